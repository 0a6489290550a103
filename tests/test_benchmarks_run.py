"""The benchmarks' single entry point, benchmarks/run.py."""

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_runner(monkeypatch):
    """benchmarks/run.py as a module (benchmarks/ is a folder of scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def runner(monkeypatch, tmp_path):
    module = load_runner(monkeypatch)
    # two stand-in benchmarks: one that succeeds and writes its JSON, one that fails
    (tmp_path / "good.py").write_text(
        "import sys, json\nprint('good ran with', sys.argv[1:])\n"
        "json.dump({'ok': True}, open(sys.argv[sys.argv.index('--json') + 1], 'w'))\n"
    )
    (tmp_path / "bad.py").write_text("import sys\nprint('bad ran')\nsys.exit(3)\n")
    monkeypatch.setattr(module, "HERE", tmp_path)
    monkeypatch.setattr(module, "DATA", tmp_path / "data")
    monkeypatch.setattr(module, "BENCHMARKS", {
        "good": module.Benchmark("good.py", "succeeds", full=("--full-arg",)),
        "bad": module.Benchmark("bad.py", "fails", json=False),
        "needs_data": module.Benchmark("good.py", "reads a data set", data=("missing.npz",)),
        "has_data": module.Benchmark("good.py", "reads a data set that is there", data=("present.npz",)),
    })
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "present.npz").write_bytes(b"")
    monkeypatch.setattr(module, "DEFAULT", ("good",))
    return module


def test_command_passes_the_mode_and_the_json_path(runner, tmp_path):
    quick = runner.command("good", quick=True, out=tmp_path)
    full = runner.command("good", quick=False, out=tmp_path)
    assert quick[0] == sys.executable and quick[2:] == ["--quick", "--json", str(tmp_path / "good.json")]
    assert full[2:] == ["--full-arg", "--json", str(tmp_path / "good.json")]
    assert "--json" not in runner.command("bad", quick=True, out=tmp_path)


def test_runs_the_default_set_and_keeps_logs_and_json(runner, tmp_path, capsys):
    out = tmp_path / "out"
    assert runner.main(["--quick", "--out", str(out)]) == 0
    assert "good ran with ['--quick'" in (out / "good.txt").read_text()
    assert (out / "good.json").read_text() == '{"ok": true}'
    assert "| good | ok |" in capsys.readouterr().out


def test_a_failing_benchmark_fails_the_run_but_not_the_others(runner, tmp_path, capsys):
    out = tmp_path / "out"
    assert runner.main(["bad", "good", "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "| bad | failed (exit 3) |" in text and "| good | ok |" in text
    assert (out / "bad.txt").read_text() == "bad ran\n"


def test_missing_data_is_skipped_with_a_pointer(runner, tmp_path, capsys):
    assert runner.main(["needs_data", "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "skipped" in text and "missing.npz not found" in text and "docs/benchmarks.md" in text
    assert runner.main(["has_data", "--out", str(tmp_path / "out")]) == 0
    assert "| has_data | ok |" in capsys.readouterr().out


def test_unknown_names_are_refused(runner):
    with pytest.raises(SystemExit):
        runner.main(["no_such_benchmark"])


def test_every_registered_script_exists_and_has_the_flags_the_runner_passes(monkeypatch):
    module = load_runner(monkeypatch)
    assert set(module.DEFAULT) <= set(module.BENCHMARKS)
    for name, bench in module.BENCHMARKS.items():
        source = (ROOT / "benchmarks" / bench.script).read_text()
        flags = [a for a in (*bench.quick, *bench.full) if a.startswith("--")]
        flags += ["--json"] if bench.json else []
        for flag in flags:
            assert f'"{flag}"' in source, f"{name}: {bench.script} has no {flag} option"


@pytest.mark.slow
def test_quick_stick_figure_benchmark_runs_end_to_end(monkeypatch, tmp_path):
    module = load_runner(monkeypatch)
    assert module.main(["stick_figures", "--quick", "--out", str(tmp_path)]) == 0
    # quick mode labels the epochs it runs (a quarter of the full run's 60)
    assert "default (joint, 15 epochs)" in (tmp_path / "stick_figures.json").read_text()
