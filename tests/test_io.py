import io
import json
import zipfile

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posetok import PoseTokenizer
from posetok.io import FORMAT_VERSION, save

from .conftest import DATA_DIR, TINY

DATA = DATA_DIR
load = PoseTokenizer.load


def test_round_trip_identical_tokens_and_attributes(tiny_fitted, stick_figures, tmp_path):
    X = stick_figures[0]
    path = tiny_fitted.save(tmp_path / "tok.posetok")
    loaded = PoseTokenizer.load(path)
    np.testing.assert_array_equal(loaded.transform(X), tiny_fitted.transform(X))
    np.testing.assert_array_equal(loaded.codebook_, tiny_fitted.codebook_)
    assert loaded.get_params() == tiny_fitted.get_params()
    assert loaded.history_ == tiny_fitted.history_
    assert loaded.score(X) == pytest.approx(tiny_fitted.score(X))


def test_feature_names_survive(stick_figures, tmp_path):
    pd = pytest.importorskip("pandas")
    from .conftest import TINY

    df = pd.DataFrame(stick_figures[0], columns=[f"c{i}" for i in range(26)])
    tok = PoseTokenizer(**TINY).fit(df)
    loaded = load(save(tok, tmp_path / "t.posetok"))
    assert list(loaded.feature_names_in_) == list(df.columns)


def test_tensors_are_loaded_without_pickle(tiny_fitted, tmp_path, monkeypatch):
    import torch

    seen = {}
    real = torch.load

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load(save(tiny_fitted, tmp_path / "t.posetok"))
    assert seen.get("weights_only") is True


def _rewrite(path, out, **changes):
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("model.json"))
        state = zf.read("state.pt")
    meta.update(changes)
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("model.json", json.dumps(meta))
        zf.writestr("state.pt", state)


def test_incompatible_version_is_refused(tiny_fitted, tmp_path):
    path = save(tiny_fitted, tmp_path / "t.posetok")
    _rewrite(path, tmp_path / "new.posetok", format_version=FORMAT_VERSION + 1, posetok_version="9.0")
    with pytest.raises(ValueError, match=r"posetok 9\.0 .* version 5; .* reads versions 1, 2, 3, 4 only"):
        load(tmp_path / "new.posetok")


def test_truncated_file_is_refused(tiny_fitted, tmp_path):
    data = save(tiny_fitted, tmp_path / "t.posetok").read_bytes()
    bad = tmp_path / "cut.posetok"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or damaged"):
        load(bad)


@pytest.mark.parametrize("content", [b"hello", b""])
def test_not_a_model_is_refused(tmp_path, content):
    bad = tmp_path / "x.posetok"
    bad.write_bytes(content)
    with pytest.raises(ValueError, match="not a posetok model"):
        load(bad)


def test_foreign_zip_is_refused(tmp_path):
    bad = tmp_path / "x.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("model.json", json.dumps({"format": "something-else"}))
        zf.writestr("state.pt", b"")
    with pytest.raises(ValueError, match="not a posetok model"):
        load(bad)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such posetok model"):
        load(tmp_path / "nope.posetok")


def test_unfitted_cannot_be_saved(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        PoseTokenizer().save(tmp_path / "t.posetok")


def test_save_refuses_what_is_not_a_tokenizer(tmp_path):
    from posetok import PoseImputer

    with pytest.raises(TypeError, match="writes a PoseTokenizer, got PoseImputer.*joblib"):
        save(PoseImputer(), tmp_path / "t.posetok")
    assert not (tmp_path / "t.posetok").exists()


def test_failed_write_leaves_no_file(tiny_fitted, tmp_path, monkeypatch):
    import posetok.io

    def crash(*args, **kwargs):
        raise OSError("disk full")

    target = tmp_path / "t.posetok"
    save(tiny_fitted, target)
    before = target.read_bytes()
    monkeypatch.setattr(posetok.io.os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save(tiny_fitted, target)
    # the old file is intact and no temporary file is left behind
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.posetok"]


def test_refinement_codebooks_round_trip(stick_figures, tmp_path):
    from .conftest import TINY

    X = stick_figures[0]
    tok = PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=8).fit(X)
    loaded = load(save(tok, tmp_path / "t.posetok"))
    np.testing.assert_array_equal(loaded.refinement_codebooks_, tok.refinement_codebooks_)
    np.testing.assert_array_equal(loaded.transform(X), tok.transform(X))
    np.testing.assert_array_equal(loaded.inverse_transform(tok.transform(X)), tok.inverse_transform(tok.transform(X)))
    assert loaded.bits_per_pose_ == tok.bits_per_pose_


def test_refinement_codebooks_of_the_wrong_shape_are_refused(stick_figures, tmp_path):
    from .conftest import TINY

    tok = PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=8).fit(stick_figures[0])
    path = save(tok, tmp_path / "t.posetok")
    _rewrite(path, tmp_path / "bad.posetok", params={**tok.get_params(), "refinement_stages": 2})
    with pytest.raises(ValueError, match="refinement_codebooks. has shape"):
        load(tmp_path / "bad.posetok")


def test_version_1_files_still_load(tiny_fitted, stick_figures, tmp_path):
    """Version 1 (before refinement) had no refinement parameters or codebooks."""
    import io

    import torch

    path = save(tiny_fitted, tmp_path / "t.posetok")
    with zipfile.ZipFile(path) as zf:
        meta = json.loads(zf.read("model.json"))
        state = torch.load(io.BytesIO(zf.read("state.pt")), weights_only=True)
    del state["refinement_codebooks"]
    meta["format_version"] = 1
    for name in ("refinement_stages", "refinement_codebook_size", "n_dims", "codebooks"):
        del meta["params"][name]
    del meta["fitted"]["n_dims_"]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with zipfile.ZipFile(tmp_path / "v1.posetok", "w") as zf:
        zf.writestr("model.json", json.dumps(meta))
        zf.writestr("state.pt", buffer.getvalue())
    loaded = load(tmp_path / "v1.posetok")
    np.testing.assert_array_equal(loaded.transform(stick_figures[0]), tiny_fitted.transform(stick_figures[0]))
    assert loaded.refinement_stages == 0 and loaded.bits_per_pose_ == tiny_fitted.bits_per_pose_


def test_version_2_file_written_by_posetok_0_1_loads_and_gives_its_recorded_ids():
    """A file that posetok wrote in format version 2, before n_dims existed (tests/data/README.md)."""
    expected = np.load(DATA / "format_v2_expected.npz")
    loaded = PoseTokenizer.load(DATA / "format_v2.posetok")
    assert loaded.n_dims_ == 2 and loaded.n_dims == "auto"
    np.testing.assert_array_equal(loaded.transform(expected["X"]), expected["ids"])
    # the decoder runs in float32, whose last bits depend on the CPU's kernels (AVX2 or AVX-512):
    # equal to float32 precision, not bit for bit (seen: 4e-8 relative on another machine)
    np.testing.assert_allclose(loaded.inverse_transform(expected["ids"]), expected["decoded"], rtol=1e-6)


def test_three_d_model_round_trip(tmp_path):
    from posetok.datasets import make_stick_figures_3d

    X, _ = make_stick_figures_3d(150, random_state=0)
    tok = PoseTokenizer(**TINY, refinement_stages=1, refinement_codebook_size=4).fit(X)
    loaded = load(save(tok, tmp_path / "t3.posetok"))
    assert loaded.n_dims_ == 3 and loaded.refinement_codebooks_.shape[-1] == 3
    np.testing.assert_array_equal(loaded.transform(X), tok.transform(X))
    np.testing.assert_array_equal(loaded.inverse_transform(tok.transform(X)), tok.inverse_transform(tok.transform(X)))
    # flat 3-D input needs n_dims: a model fitted with n_dims=3 keeps that parameter
    flat = PoseTokenizer(**TINY, n_dims=3).fit(X.reshape(len(X), -1))
    assert load(save(flat, tmp_path / "f3.posetok")).get_params()["n_dims"] == 3


@pytest.mark.parametrize("params, fitted, match", [
    ({"n_dims": 3}, None, r"params say n_dims=3, but the model was fitted with n_dims_=2"),
    (None, {"n_dims_": 3}, r"n_features_in_ must be n_dims \* n_keypoints_"),
    (None, {"n_dims_": 0}, "n_dims_ must be a positive integer"),
    (None, {"n_dims_": ...}, "fitted lacks 'n_dims_'"),
    ({"n_dims": True}, None, "n_dims must be a number"),
])
def test_tampered_n_dims_refused(tiny_fitted, tmp_path, params, fitted, match):
    path = _tampered(tiny_fitted, tmp_path, params=params, fitted=fitted)
    with pytest.raises(ValueError, match=match):
        load(path)


def test_old_versions_may_not_claim_n_dims(tiny_fitted, tmp_path):
    path = save(tiny_fitted, tmp_path / "t.posetok")
    _rewrite(path, tmp_path / "v2.posetok", format_version=2)
    with pytest.raises(ValueError, match="n_dims is not a parameter of file format version 2"):
        load(tmp_path / "v2.posetok")


def test_old_versions_may_not_claim_codebooks(tiny_fitted, tmp_path):
    path = save(tiny_fitted, tmp_path / "t.posetok")
    _rewrite(path, tmp_path / "v3.posetok", format_version=3)
    with pytest.raises(ValueError, match="codebooks is not a parameter of file format version 3"):
        load(tmp_path / "v3.posetok")


def test_version_3_file_without_codebooks_loads_with_a_shared_codebook(tiny_fitted, stick_figures, tmp_path):
    path = save(tiny_fitted, tmp_path / "t.posetok")
    params = {k: v for k, v in tiny_fitted.get_params().items() if k != "codebooks"}
    _rewrite(path, tmp_path / "v3.posetok", format_version=3, params=params)
    loaded = load(tmp_path / "v3.posetok")
    assert loaded.codebooks == "shared"
    np.testing.assert_array_equal(loaded.transform(stick_figures[0]), tiny_fitted.transform(stick_figures[0]))


def test_per_token_codebooks_round_trip(stick_figures, tmp_path):
    tok = PoseTokenizer(**{**TINY, "codebooks": "per_token"}).fit(stick_figures[0])
    loaded = load(save(tok, tmp_path / "p.posetok"))
    assert loaded.codebook_.shape == (TINY["n_tokens"], TINY["codebook_size"], TINY["token_dim"])
    np.testing.assert_array_equal(loaded.transform(stick_figures[0]), tok.transform(stick_figures[0]))


def test_codebook_layout_must_match_the_codebooks_param(tiny_fitted, tmp_path):
    path = _tampered(tiny_fitted, tmp_path, params={"codebooks": "per_token"})
    with pytest.raises(ValueError, match=r"tensor 'quantizer.codebook' has shape \(\d+, \d+\), the params describe"):
        load(path)


def _tampered(tiny_fitted, tmp_path, params=None, fitted=None, meta=None):
    path = save(tiny_fitted, tmp_path / "t.posetok")
    with zipfile.ZipFile(path) as zf:
        original = json.loads(zf.read("model.json"))
    changes = dict(meta or {})
    if params is not None:
        changes["params"] = {**original["params"], **params}
    if fitted is not None:
        changes["fitted"] = {k: v for k, v in {**original["fitted"], **fitted}.items() if v is not ...}
    _rewrite(path, tmp_path / "bad.posetok", **changes)
    return tmp_path / "bad.posetok"


@pytest.mark.parametrize("params, fitted, meta, match", [
    (None, {"transform": 1}, None, "unknown fitted attribute 'transform'"),
    ({"normalize": "bogus"}, None, None, "invalid params.*normalize"),
    ({"bogus": 1}, None, None, "unknown parameter 'bogus'"),
    ({"encoder_depth": 10**9}, None, None, "encoder_depth=1000000000, the tensors hold 1"),
    ({"encoder_width": 10**9}, None, None, "shape"),
    ({"n_tokens": "4"}, None, None, "invalid params.*n_tokens"),
    (None, {"scale_": 0}, None, "scale_ must be a finite positive"),
    (None, {"scale_": -1.0}, None, "scale_ must be a finite positive"),
    (None, {"scale_": 1e400}, None, "scale_"),
    (None, {"mean_": [0.0] * 3}, None, "mean_ must be a list of 26"),
    (None, {"mean_": [None] * 26}, None, "mean_ must be a list of 26 finite"),
    (None, {"n_keypoints_": 12}, None, "n_features_in_ must be n_dims \\* n_keypoints_ = 24"),
    (None, {"n_keypoints_": ...}, None, "fitted lacks 'n_keypoints_'"),
    (None, {"feature_names_in_": [1] * 26}, None, "feature_names_in_ must be a list of 26 strings"),
    (None, None, {"extra": 1}, "unknown field 'extra'"),
])
def test_tampered_fields_are_refused_by_name(tiny_fitted, tmp_path, params, fitted, meta, match):
    # issue 15, item 5: every field validated before anything is built
    with pytest.raises(ValueError, match=match):
        load(_tampered(tiny_fitted, tmp_path, params, fitted, meta))


def test_nan_weights_are_refused(tiny_fitted, tmp_path):
    path = save(tiny_fitted, tmp_path / "t.posetok")
    with zipfile.ZipFile(path) as zf:
        meta, state = zf.read("model.json"), torch.load(io.BytesIO(zf.read("state.pt")), weights_only=True)
    state["decoder.head.bias"][0] = float("nan")
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with zipfile.ZipFile(tmp_path / "nan.posetok", "w") as zf:
        zf.writestr("model.json", meta)
        zf.writestr("state.pt", buffer.getvalue())
    with pytest.raises(ValueError, match="'decoder.head.bias' holds NaN"):
        load(tmp_path / "nan.posetok")


def test_oversized_json_is_refused_before_reading(tiny_fitted, tmp_path, monkeypatch):
    import posetok.io

    path = save(tiny_fitted, tmp_path / "t.posetok")
    monkeypatch.setattr(posetok.io, "MAX_JSON_BYTES", 100)
    with pytest.raises(ValueError, match="model.json is .* bytes, more than a model can need"):
        load(path)


@pytest.mark.parametrize("value", [np.int64(3), np.int32(0)])
def test_numpy_typed_parameters_save(stick_figures, tmp_path, value):
    # issue 15, item 6: GridSearchCV over a numpy grid leaves numpy scalars in the parameters
    from .conftest import TINY

    X = stick_figures[0][:100]
    tok = PoseTokenizer(**{**TINY, "n_tokens": np.int64(4), "learning_rate": np.float32(5e-3),
                           "random_state": value}).fit(X)
    loaded = load(save(tok, tmp_path / "t.posetok"))
    np.testing.assert_array_equal(loaded.transform(X), tok.transform(X))
    assert loaded.random_state == int(value) and type(loaded.n_tokens) is int


def test_random_state_instance_saves_and_loads(tiny_fitted, stick_figures, tmp_path):
    from sklearn.base import clone

    tok = clone(tiny_fitted).set_params(random_state=np.random.RandomState(5)).fit(stick_figures[0][:100])
    loaded = load(save(tok, tmp_path / "t.posetok"))
    assert isinstance(loaded.random_state, np.random.RandomState)
    assert loaded.random_state.randint(1000) == tok.random_state.randint(1000)


def test_save_follows_a_symlink_and_refuses_devices_and_empty_paths(tiny_fitted, tmp_path):
    # issue 15, item 7
    import os
    import stat

    target = tmp_path / "real.posetok"
    target.write_bytes(b"old")
    link = tmp_path / "link.posetok"
    link.symlink_to(target)
    save(tiny_fitted, link)
    assert link.is_symlink() and load(link).n_tokens == tiny_fitted.n_tokens
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~_umask()
    with pytest.raises(ValueError, match="not a regular file"):
        save(tiny_fitted, "/dev/null")
    with pytest.raises(ValueError, match="path is empty"):
        save(tiny_fitted, "")
    with pytest.raises(ValueError, match="a folder"):
        save(tiny_fitted, tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(tiny_fitted, tmp_path / "nope" / "t.posetok")
    assert not list(tmp_path.glob(".*.tmp"))


def _umask():
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_set_output_survives_the_round_trip(tiny_fitted, stick_figures, tmp_path):
    # issue 15, item 16
    import copy

    tok = copy.deepcopy(tiny_fitted).set_output(transform="pandas")
    loaded = load(save(tok, tmp_path / "t.posetok"))
    assert hasattr(loaded.transform(stick_figures[0][:3]), "columns")
    assert not hasattr(load(save(tiny_fitted, tmp_path / "u.posetok")).transform(stick_figures[0][:3]), "columns")


HOSTILE_VALUES = [None, True, -1, 0, 1, 2**31, 10**12, 1e308, -1e308, 0.5, "x", "", [], [1, 2], {}, {"a": 1}]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_hostile_field_values_are_refused_or_harmless(tiny_fitted, stick_figures, tmp_path, data):
    # issue 15: any field of model.json replaced by a hostile value: a ValueError naming the problem,
    # or a model that still transforms and decodes to finite poses; never another exception or a hang
    path = save(tiny_fitted, tmp_path / "t.posetok")
    with zipfile.ZipFile(path) as zf:
        meta, state = json.loads(zf.read("model.json")), zf.read("state.pt")
    section = data.draw(st.sampled_from(["params", "fitted"]))
    key = data.draw(st.sampled_from(sorted(meta[section])))
    meta[section][key] = data.draw(st.sampled_from(HOSTILE_VALUES))
    bad = tmp_path / "bad.posetok"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("model.json", json.dumps(meta))
        zf.writestr("state.pt", state)
    try:
        tok = load(bad)
    except ValueError:
        return
    X = stick_figures[0][:5]
    assert np.isfinite(tok.inverse_transform(tok.transform(X))).all()


def test_a_save_killed_mid_write_leaves_no_file(tiny_fitted, tmp_path):
    # issue 15, item 7: a SIGKILL while saving left a .NAME.*.tmp file behind
    import os
    import signal
    import subprocess
    import sys
    import time

    model = save(tiny_fitted, tmp_path / "model.posetok")
    out = tmp_path / "out"
    out.mkdir()
    script = (
        "import os, sys, time\n"
        "from posetok import PoseTokenizer\n"
        "import posetok.io\n"
        "tok = PoseTokenizer.load(sys.argv[1])\n"
        "def slow_fsync(fd):\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"
        "posetok.io.os.fsync = slow_fsync\n"
        "tok.save(sys.argv[2])\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(model), str(out / "t.posetok")],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"  # inside the write, file data already written
        time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    if not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE here: a killed save may leave its temporary file")
    assert list(out.iterdir()) == []


def test_io_load_without_the_class_says_what_to_call(tiny_fitted, tmp_path):
    from posetok import io as posetok_io

    path = save(tiny_fitted, tmp_path / "t.posetok")
    with pytest.raises(TypeError, match=r"PoseTokenizer.load\(path\)"):
        posetok_io.load(path)
