"""The CLI: instant help, model listing, and one-line errors (no traceback, non-zero exit, nothing written)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cli import main
from conftest import zoo_command

TINY = ["--epochs", "1", "--steps-per-epoch", "2", "--batch-size", "8", "--image-size", "20", "--channels", "4,8",
        "--embedding-dim", "8", "--val-trials", "10", "--eval-trials", "10", "--no-progress"]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_help_imports_no_heavy_module() -> None:
    code = ("import sys, cli; cli.build_cli(); heavy = {'torch', 'lightning', 'onnx', 'onnxruntime', 'keras', 'gradio', "
            "'huggingface_hub', 'sklearn'} & set(sys.modules); assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_list_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["list"], capsys)
    assert code == 0 and "siamese" in out and "omniglot-minimal" in out
    code, out, _ = run_cli(["info", "siamese"], capsys)
    assert code == 0 and "--image-size" in out and "Koch" in out
    code, out, _ = run_cli(["train", "siamese", "--help"], capsys)
    assert code == 0 and "--distance" in out and "--resume" in out


@pytest.mark.parametrize("case", ["unknown-model", "unknown-data", "empty-dir", "corrupt-image", "wrong-type-yaml",
                                  "wrong-type-option", "unknown-key"])
def test_bad_input_is_one_line_and_writes_nothing(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "runs"
    argv = ["train", "siamese", "--out", str(out_dir), *TINY]
    expected = {
        "unknown-model": "unknown model 'nope'",
        "unknown-data": "unknown data set 'nope'",
        "empty-dir": "no images",
        "corrupt-image": "corrupt or unreadable image",
        "wrong-type-yaml": "invalid value 'many' for 'epochs'",
        "wrong-type-option": "Invalid value for '--image-size'",
        "unknown-key": "unknown config key 'epoch'",
    }[case]
    if case == "unknown-model":
        argv[1] = "nope"
    elif case == "unknown-data":
        argv += ["--data", "nope"]
    elif case == "empty-dir":
        (tmp_path / "imgs").mkdir()
        argv += ["--data", f"imagefolder:{tmp_path / 'imgs'}"]
    elif case == "corrupt-image":
        for cls in ("a", "b"):
            (tmp_path / "imgs" / cls).mkdir(parents=True)
            Image.fromarray(np.zeros((8, 8), np.uint8)).save(tmp_path / "imgs" / cls / "ok.png")
        (tmp_path / "imgs" / "b" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
        argv += ["--data", f"imagefolder:{tmp_path / 'imgs'}"]
    elif case in ("wrong-type-yaml", "unknown-key"):
        key = "epochs" if case == "wrong-type-yaml" else "epoch"
        (tmp_path / "c.yaml").write_text(f"{key}: many\n")
        argv = ["train", "siamese", "--out", str(out_dir), "--config", str(tmp_path / "c.yaml"), "--no-progress"]
    elif case == "wrong-type-option":
        argv = ["train", "siamese", "--out", str(out_dir), "--image-size", "big"]
    code, _, err = run_cli(argv, capsys)
    assert code != 0
    assert expected in err, err
    assert "Traceback" not in err
    assert len([line for line in err.strip().splitlines() if line.strip()]) <= 3  # one message (rich may wrap it)
    assert not out_dir.exists() or not any(out_dir.rglob("*.safetensors")) and not any(out_dir.rglob("config.yaml"))


def test_error_from_console_script_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([*zoo_command(), "train", "siamese", "--data", "nope", "--out", str(tmp_path)], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown data set 'nope'") and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
