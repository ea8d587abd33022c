"""`zoo train` hides Lightning's info lines and warnings; `--verbose` shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli import main
from zoo import registry

TINY_SIAMESE = registry.card("siamese").tiny


def train_output(tmp_path: Path, capfd: pytest.CaptureFixture[str], *extra: str) -> str:
    args = [f"--{k.replace('_', '-')}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in TINY_SIAMESE.items()]
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "siamese", "--run-dir", str(tmp_path / "run"), "--no-progress", "--accelerator", "cpu", *args, *extra])
    out, err = capfd.readouterr()
    assert exit_info.value.code in (0, None), err[-2000:]
    return out + err


def test_quiet_by_default_and_verbose_on_request(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    quiet = train_output(tmp_path / "a", capfd)
    assert "GPU available" not in quiet and "Warning" not in quiet and "log_every_n_steps" not in quiet
    verbose = train_output(tmp_path / "b", capfd, "--verbose")
    assert "GPU available" in verbose or "log_every_n_steps" in verbose, verbose[-2000:]
