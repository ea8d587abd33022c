"""`zoo export/eval/bench/push` with no SOURCE use the most recent finished run under ./runs (and say so),
or fail with one line naming what to run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from cli import main
from zoo.runs import default_source, newest_run


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


@pytest.fixture()
def two_runs(siamese_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """./runs/siamese/{old,new}: two finished copies of the tiny run, 'new' written last; cwd is tmp_path."""
    old, new = tmp_path / "runs" / "siamese" / "old", tmp_path / "runs" / "siamese" / "new"
    shutil.copytree(siamese_run, old)
    shutil.copytree(siamese_run, new)
    os.utime(old / "model.safetensors", (1_000_000, 1_000_000))
    unfinished = tmp_path / "runs" / "siamese" / "unfinished"  # newest folder, but no weights: not a candidate
    unfinished.mkdir()
    (unfinished / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    return old, new


def test_newest_finished_run_is_chosen(two_runs: tuple[Path, Path]) -> None:
    old, new = two_runs
    assert newest_run(Path("runs")).resolve() == new.resolve()
    logged: list[str] = []
    assert default_source(None, "export", log=logged.append) == str(Path("runs/siamese/new"))
    assert logged and "runs/siamese/new" in logged[0]
    assert default_source("explicit", "export", log=logged.append) == "explicit" and len(logged) == 1


def test_export_without_source_exports_the_newest_run(two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    old, new = two_runs
    code, out, err = run_cli(["export", "--to", "onnx"], capsys)
    assert code == 0, err
    assert "most recent finished run" in out and "new" in out
    assert (new / "siamese.onnx").is_file() and (new / "siamese.onnx.parity.json").is_file()
    assert not (old / "siamese.onnx").exists()


def test_eval_without_source_uses_the_newest_run(two_runs: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(["eval", "--json", "m.json"], capsys)
    assert code == 0, err
    assert "runs/siamese/new" in out
    assert '"source": "runs/siamese/new"' in Path("m.json").read_text()


@pytest.mark.parametrize("argv", [["export", "--to", "onnx"], ["eval"], ["bench"], ["push", "--repo", "me/x"]])
def test_no_run_and_no_source_is_one_line_error(argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(argv, capsys)
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code != 0
    assert len(lines) == 1 and "no finished run under runs" in lines[0] and "zoo train siamese" in lines[0], err
    assert list(tmp_path.iterdir()) == []
