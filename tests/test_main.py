"""The command line (posetok.__main__): errors are one line, never a traceback."""

import os

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
