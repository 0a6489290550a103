"""The command line (posetok.cli, run as posetok or python -m posetok): errors are one line, never a traceback."""

import os
import re

import pytest

from posetok import PoseTokenizer, __version__
from posetok.__main__ import main


def _error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"posetok {__version__}"


def test_unknown_option_is_named(capsys):
    assert "unrecognized arguments: --bogus" in _error(capsys, ["--bogus"])
    assert "a command is required" in _error(capsys, [])


@pytest.mark.parametrize("seed", ["-1", str(2**32 - 1)])
def test_out_of_range_seed(capsys, seed, tmp_path):
    assert "--seed must be between 0 and" in _error(capsys, ["demo", "--seed", seed, "--out", str(tmp_path)])


def test_bad_output_folders_fail_before_fitting(capsys, tmp_path):
    file = tmp_path / "f"
    file.write_text("x")
    assert "is a file, not a folder" in _error(capsys, ["demo", "--out", str(file)])
    assert "lies under a file" in _error(capsys, ["demo", "--out", str(file / "sub")])
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert "not writable" in _error(capsys, ["demo", "--out", str(locked)])


def test_demo_saves_the_safe_format(capsys, tmp_path):
    assert main(["demo", "--n-train", "300", "--n-test", "50", "--n-epochs", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "epoch 1/1" in out
    model = tmp_path / "stick_figure_tokenizer.posetok"
    assert PoseTokenizer.load(model).n_keypoints_ == 13
    assert not list(tmp_path.glob("*.joblib"))


# ------------------------------------------------------------------ tokenize, decode, fit, info
import json  # noqa: E402

import numpy as np  # noqa: E402

from posetok.datasets import make_stick_figures  # noqa: E402

from .conftest import TINY  # noqa: E402


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A small saved model of 13 stick-figure joints, per-pose normalisation."""
    X, _ = make_stick_figures(300, random_state=0)
    path = tmp_path_factory.mktemp("model") / "m.posetok"
    PoseTokenizer(**TINY, normalize="pose", refinement_stages=1, refinement_codebook_size=4).fit(X).save(path)
    return path


def _results_file(path, X, hide=()):
    """X (n, 26) as a COCO results file, joints in ``hide`` (row, joint) with v = 0."""
    records = []
    for i, pose in enumerate(X.reshape(len(X), -1, 2)):
        flags = np.ones((len(pose), 1))
        for row, joint in hide:
            if row == i:
                flags[joint] = 0
        kp = np.concatenate([pose, flags], 1).ravel().tolist()
        records.append({"image_id": 100 + i, "category_id": 1, "keypoints": kp, "score": 0.5})
    path.write_text(json.dumps(records))
    return path


@pytest.mark.parametrize("suffix", [".json", ".npz", ".csv"])
def test_tokenize_then_decode_round_trip_in_pixels(capsys, tmp_path, model_file, suffix):
    X, _ = make_stick_figures(20, random_state=1)
    X = X * 10.0 + 500.0  # pixels of a larger image: the per-pose frame takes any scale
    results = _results_file(tmp_path / "results.json", X, hide=[(3, 5)])
    tokens = tmp_path / f"tokens{suffix}"
    assert main(["tokenize", str(results), "-o", str(tokens), "--model", str(model_file)]) == 0
    assert f"20 poses -> {tokens}" in capsys.readouterr().out
    tok = PoseTokenizer.load(model_file)
    expected = X.copy()
    expected[3, 10:12] = np.nan
    decoded = tmp_path / "decoded.json"
    if suffix == ".csv":  # a table has nowhere to name its model
        assert "pass --model" in _file_error(capsys, ["decode", str(tokens), "-o", str(decoded)])
        assert main(["decode", str(tokens), "-o", str(decoded), "--model", str(model_file)]) == 0
    else:
        assert main(["decode", str(tokens), "-o", str(decoded)]) == 0  # the model named in the token file
    records = json.loads(decoded.read_text())
    assert [r["image_id"] for r in records] == list(range(100, 120)) and records[0]["score"] == 0.5
    kp = np.array([r["keypoints"] for r in records]).reshape(20, -1, 3)[..., :2].reshape(20, -1)
    # the same as the tokenizer's own reconstruction in X's units (3 decimals in the JSON)
    np.testing.assert_allclose(kp, tok._reconstruct(expected), atol=2e-3)


def test_tokenize_reads_npz_and_csv_keypoints(capsys, tmp_path, model_file):
    X, _ = make_stick_figures(10, random_state=2)
    np.savez(tmp_path / "kp.npz", keypoints=X.reshape(10, 13, 2), image_id=np.arange(10))
    header = ",".join(f"j{k}_{a}" for k in range(13) for a in "xy")
    np.savetxt(tmp_path / "kp.csv", X, delimiter=",", header=header, comments="")
    for source in ("kp.npz", "kp.csv"):
        out = tmp_path / f"{source}.tokens.npz"
        assert main(["tokenize", str(tmp_path / source), "-o", str(out), "--model", str(model_file)]) == 0
        with np.load(out) as d:
            np.testing.assert_array_equal(d["ids"], PoseTokenizer.load(model_file).transform(X))
            np.testing.assert_array_equal(d["entry"], np.arange(10))


def test_poses_without_observed_joints_are_left_out_and_named(capsys, tmp_path, model_file):
    X, _ = make_stick_figures(4, random_state=3)
    results = _results_file(tmp_path / "r.json", X, hide=[(1, j) for j in range(13)])
    assert main(["tokenize", str(results), "-o", str(tmp_path / "t.npz"), "--model", str(model_file)]) == 0
    assert "1 pose(s) with no observed joint left out" in capsys.readouterr().err
    with np.load(tmp_path / "t.npz") as d:
        assert d["entry"].tolist() == [0, 2, 3] and d["image_id"].tolist() == [100, 102, 103]


def test_decoded_csv_reads_back(capsys, tmp_path, model_file):
    X, _ = make_stick_figures(6, random_state=4)
    results = _results_file(tmp_path / "r.json", X)
    assert main(["tokenize", str(results), "-o", str(tmp_path / "t.npz"), "--model", str(model_file)]) == 0
    assert main(["decode", str(tmp_path / "t.npz"), "-o", str(tmp_path / "d.csv")]) == 0
    assert main(["tokenize", str(tmp_path / "d.csv"), "-o", str(tmp_path / "t2.npz"), "--model", str(model_file)]) == 0
    with np.load(tmp_path / "t2.npz") as d:
        assert d["ids"].shape == (6, 4 + 13)


def test_fit_and_info(capsys, tmp_path):
    X, _ = make_stick_figures(200, random_state=0)
    np.savez(tmp_path / "kp.npz", keypoints=X.reshape(200, 13, 2))
    model = tmp_path / "fitted.posetok"
    assert main(["fit", str(tmp_path / "kp.npz"), "-o", str(model), "--n-tokens", "4", "--codebook-size", "8",
                 "--n-epochs", "1", "--quiet"]) == 0
    assert "200 poses of 13 2-D keypoints, 12 bits per pose" in capsys.readouterr().out
    assert PoseTokenizer.load(model).normalize_ == "pose"
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert "13 x 2-D" in out and "4 of 8 codes" in out and "bits per pose  12" in out
    per_token = tmp_path / "per_token.posetok"
    assert main(["fit", str(tmp_path / "kp.npz"), "-o", str(per_token), "--n-tokens", "4", "--codebook-size", "8",
                 "--codebooks", "per_token", "--n-epochs", "1", "--quiet"]) == 0
    assert PoseTokenizer.load(per_token).codebook_.shape == (4, 8, 32)
    capsys.readouterr()
    assert main(["info", str(per_token)]) == 0
    assert "4 of 8 codes (a codebook per token)" in capsys.readouterr().out


def _file_error(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    return err


@pytest.mark.parametrize("content, match", [
    ("not json", "not valid UTF-8 JSON"),
    ('[{"keypoints": [1, 2]}]', "entry 0: 'keypoints' must be a list of x, y, v triples"),
    ('[{"keypoints": [1, 2, 1]}, {"keypoints": [1, 2, 1, 4, 5, 1]}]', r"entry 1: 'keypoints' must be a list of 3"),
    ('[{"keypoints": [1, 2, 1], "image_id": "a"}]', "entry 0: 'image_id' must be an integer"),
    ('[{"keypoints": [1, 2, 1], "score": null}]', "entry 0: 'score' must be a number"),
    ("[]", "'keypoints' must be a list"),
    ('{"annotations": 3}', "annotation file"),
])
def test_bad_keypoint_files_get_one_line(capsys, tmp_path, model_file, content, match):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    assert re.search(match, _file_error(capsys, ["tokenize", str(bad), "-o", str(tmp_path / "t.npz"),
                                                 "--model", str(model_file)]))


def test_mismatched_files_and_models(capsys, tmp_path, model_file):
    X, _ = make_stick_figures(3, random_state=0)
    results = _results_file(tmp_path / "r.json", X[:, :24])  # 12 joints for a 13-joint model
    assert "has 12 keypoints per pose, the model takes 13" in _file_error(
        capsys, ["tokenize", str(results), "-o", str(tmp_path / "t.npz"), "--model", str(model_file)])
    assert "neither a pretrained model" in _file_error(
        capsys, ["tokenize", str(results), "-o", str(tmp_path / "t.npz"), "--model", "nope"])
    assert "token files are .npz, .json or .csv" in _file_error(
        capsys, ["tokenize", str(_results_file(tmp_path / "r13.json", X)), "-o", str(tmp_path / "t.txt"),
                 "--model", str(model_file)])
    assert "does not exist" in _file_error(capsys, ["decode", str(tmp_path / "none.npz"), "-o", "x.json"])
    np.savez(tmp_path / "noids.npz", x=np.zeros(3))
    assert "has no array 'ids'" in _file_error(capsys, ["decode", str(tmp_path / "noids.npz"), "-o", "x.json"])
    np.savez(tmp_path / "badids.npz", ids=np.full((2, 5), 99), model=np.array(str(model_file)))
    assert "token ids must have shape" in _file_error(
        capsys, ["decode", str(tmp_path / "badids.npz"), "-o", str(tmp_path / "x.json")])
    assert "name it *.posetok" in _file_error(capsys, ["fit", str(results), "-o", str(tmp_path / "m.joblib")])
    assert "neither a pretrained model" in _file_error(capsys, ["info", str(tmp_path / "absent.posetok")])
    (tmp_path / "junk.posetok").write_bytes(b"junk")
    assert "not a posetok model file" in _file_error(capsys, ["info", str(tmp_path / "junk.posetok")])


def test_the_readme_commands_with_the_pretrained_model(capsys, tmp_path, monkeypatch):
    """README, "Tokens from a pose estimator's output, with no fit": the same commands, the same output."""
    from pathlib import Path

    sample = Path(__file__).parents[1] / "examples" / "coco_val2017_sample_results.json"
    monkeypatch.chdir(tmp_path)
    assert main(["tokenize", str(sample), "-o", "tokens.json"]) == 0
    assert capsys.readouterr().out == ("posetok tokenize: 8 poses -> tokens.json (32 ids each, 256 bits; model coco17; "
                                       "8 framed by their person box)\n")
    assert main(["decode", "tokens.json", "-o", "decoded.json"]) == 0
    assert capsys.readouterr().out == "posetok decode: 8 poses -> decoded.json (model coco17)\n"
    original = np.array([r["keypoints"] for r in json.loads(sample.read_text())], float).reshape(8, 17, 3)
    decoded = np.array([r["keypoints"] for r in json.loads((tmp_path / "decoded.json").read_text())]).reshape(8, 17, 3)
    labelled = original[..., 2] > 0
    error = np.linalg.norm(decoded[..., :2] - original[..., :2], axis=-1)[labelled]
    assert np.median(error) < 4.0  # pixels (1.5 measured), persons of 100-400 px


def test_fit_streams_a_npy_file_from_disk(tmp_path, monkeypatch):
    import posetok.tokenizer as tokenizer_module
    from posetok import PoseTokenizer
    from posetok.cli import main
    from posetok.datasets import make_stick_figures, make_stick_figures_3d

    monkeypatch.setattr(tokenizer_module, "BLOCK_SIZE", 500)
    seen = []
    real = tokenizer_module.PoseTokenizer._scan

    def spy(self, X, seed):
        seen.append(type(X))
        return real(self, X, seed)

    monkeypatch.setattr(tokenizer_module.PoseTokenizer, "_scan", spy)
    X, _ = make_stick_figures(1200, random_state=0)
    np.save(tmp_path / "poses.npy", X.reshape(-1, 13, 2))
    args = ["--n-tokens", "4", "--codebook-size", "16", "--n-epochs", "2", "--quiet"]
    assert main(["fit", str(tmp_path / "poses.npy"), "-o", str(tmp_path / "m.posetok"), *args]) == 0
    assert seen == [np.memmap]  # streamed, not loaded
    assert PoseTokenizer.load(tmp_path / "m.posetok").n_keypoints_ == 13
    X3, _ = make_stick_figures_3d(600, random_state=0)
    np.save(tmp_path / "flat.npy", X3.reshape(len(X3), -1))
    assert main(["fit", str(tmp_path / "flat.npy"), "-o", str(tmp_path / "m3.posetok"), "--n-dims", "3", *args]) == 0
    assert PoseTokenizer.load(tmp_path / "m3.posetok").n_dims_ == 3


@pytest.mark.parametrize("array, message", [
    (np.zeros((4, 26)), "with --n-dims"),
    (np.zeros((4, 13, 2, 1)), "shape (4, 13, 2, 1)"),
    (np.array([{"a": 1}], dtype=object), "bad.npy: Array can't be memory-mapped: Python objects"),
])
def test_fit_refuses_bad_npy_files_in_one_line(tmp_path, capsys, array, message):
    from posetok.cli import main

    np.save(tmp_path / "bad.npy", array, allow_pickle=True)
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", str(tmp_path / "bad.npy"), "-o", str(tmp_path / "m.posetok"), "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "posetok fit: error:" in err and message in err and "Traceback" not in err


def _boxes_of(X, margin=0.2):
    kp = X.reshape(len(X), -1, 2)
    lo, hi = kp.min(1), kp.max(1)
    return np.hstack([lo - margin * (hi - lo), (1 + 2 * margin) * (hi - lo)])


@pytest.fixture(scope="module")
def box_model_file(tmp_path_factory):
    """A small model fitted with person boxes (posetok fit --boxes)."""
    X, _ = make_stick_figures(300, random_state=0)
    folder = tmp_path_factory.mktemp("box-model")
    np.savez(folder / "kp.npz", keypoints=X.reshape(300, 13, 2), bbox=_boxes_of(X))
    path = folder / "m.posetok"
    assert main(["fit", str(folder / "kp.npz"), "-o", str(path), "--n-tokens", "4", "--codebook-size", "8",
                 "--n-epochs", "1", "--quiet", "--boxes"]) == 0
    return path


def test_fit_with_boxes_records_it(capsys, box_model_file, model_file):
    assert PoseTokenizer.load(box_model_file).fitted_with_boxes_ is True
    assert PoseTokenizer.load(model_file).fitted_with_boxes_ is False
    capsys.readouterr()
    assert main(["info", str(box_model_file)]) == 0
    assert "pose; fitted with person boxes" in capsys.readouterr().out


def test_tokenize_frames_poses_by_the_boxes_of_the_file(capsys, tmp_path, box_model_file, model_file):
    X, _ = make_stick_figures(6, random_state=4)
    X = X * 3.0 + 100.0
    boxes = _boxes_of(X)
    boxes[2] = [50, 60, 0, 0]  # a box with no size: that pose is framed by its joints, and said so
    records = json.loads(_results_file(tmp_path / "r.json", X).read_text())
    for record, box in zip(records, boxes):
        record["bbox"] = box.tolist()
    (tmp_path / "r.json").write_text(json.dumps(records))
    tok = PoseTokenizer.load(box_model_file)
    expected_boxes = boxes.copy()
    expected_boxes[2] = np.nan
    assert main(["tokenize", str(tmp_path / "r.json"), "-o", str(tmp_path / "t.npz"), "--model",
                 str(box_model_file)]) == 0
    captured = capsys.readouterr()
    assert "5 framed by their person box" in captured.out and "1 box(es) with no size" in captured.err
    with np.load(tmp_path / "t.npz") as d:
        np.testing.assert_array_equal(d["ids"], tok.transform(X, boxes=expected_boxes))
        np.testing.assert_allclose(d["centre"][0], boxes[0, :2] + boxes[0, 2:] / 2)
    # decode maps back with the stored frames: the box-framed reconstruction, in pixels
    assert main(["decode", str(tmp_path / "t.npz"), "-o", str(tmp_path / "d.npz")]) == 0
    with np.load(tmp_path / "d.npz") as d:
        np.testing.assert_allclose(d["keypoints"].reshape(6, -1), tok._reconstruct(X, expected_boxes), atol=1e-9)
    # --boxes ignore, and a model fitted without boxes (auto): framed by the joints
    for argv in (["--model", str(box_model_file), "--boxes", "ignore"], ["--model", str(model_file)]):
        assert main(["tokenize", str(tmp_path / "r.json"), "-o", str(tmp_path / "u.npz"), *argv]) == 0
        with np.load(tmp_path / "u.npz") as d:
            np.testing.assert_array_equal(d["ids"], PoseTokenizer.load(argv[1]).transform(X))


def test_box_options_without_boxes_get_one_line(capsys, tmp_path, box_model_file):
    X, _ = make_stick_figures(5, random_state=5)
    results = _results_file(tmp_path / "r.json", X)
    assert "has no person boxes" in _file_error(capsys, ["tokenize", str(results), "-o", str(tmp_path / "t.npz"),
                                                         "--model", str(box_model_file), "--boxes", "use"])
    np.savez(tmp_path / "kp.npz", keypoints=X.reshape(5, 13, 2))
    assert "has no person boxes" in _file_error(capsys, ["fit", str(tmp_path / "kp.npz"), "-o",
                                                         str(tmp_path / "m.posetok"), "--boxes", "--n-epochs", "1"])
    np.savez(tmp_path / "bad.npz", keypoints=X.reshape(5, 13, 2), bbox=np.ones((5, 3)))
    assert "'bbox' must be numbers of shape (5, 4)" in _file_error(
        capsys, ["tokenize", str(tmp_path / "bad.npz"), "-o", str(tmp_path / "t.npz"), "--model", str(box_model_file)])


def test_fit_turns_training_poses_and_refuses_a_turn_without_an_axis(capsys, tmp_path):
    import numpy as np

    from posetok.datasets import make_stick_figures, make_stick_figures_3d

    X, _ = make_stick_figures(200, random_state=0)
    np.savez(tmp_path / "kp.npz", keypoints=X.reshape(200, 13, 2))
    model = tmp_path / "turned.posetok"
    small = ["--n-tokens", "4", "--codebook-size", "8", "--n-epochs", "1", "--quiet"]
    assert main(["fit", str(tmp_path / "kp.npz"), "-o", str(model), *small, "--rotation-range", "30"]) == 0
    assert PoseTokenizer.load(model).get_params()["rotation_range"] == 30
    X3, _ = make_stick_figures_3d(200, random_state=0)
    np.savez(tmp_path / "kp3.npz", keypoints=X3)
    argv = ["fit", str(tmp_path / "kp3.npz"), "-o", str(tmp_path / "m3.posetok"), *small, "--rotation-range", "90"]
    assert "set --rotation-axis" in _file_error(capsys, argv)
    assert "--rotation-range" in _file_error(capsys, [*argv[:-1], "200"])  # more than 180 degrees
    assert not (tmp_path / "m3.posetok").exists()  # refused before the fit
    assert main([*argv, "--rotation-axis", "1"]) == 0
    assert PoseTokenizer.load(tmp_path / "m3.posetok").rotation_axis == 1
