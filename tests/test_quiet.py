"""`zoo train` hides Lightning's info lines and warnings; `--verbose` shows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from zoo import registry

TINY_SIAMESE = registry.card("siamese").tiny


def train_output(tmp_path: Path, capfd: pytest.CaptureFixture[str], *extra: str) -> str:
    """A real `zoo train` in a fresh process (warnings and Lightning's info lines show once per process)."""
    import subprocess

    from conftest import zoo_command

    args = [f"--{k.replace('_', '-')}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in TINY_SIAMESE.items()]
    done = subprocess.run([*zoo_command(), "train", "siamese", "--run-dir", str(tmp_path / "run"), "--no-progress",
                           "--accelerator", "cpu", *args, *extra], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout + done.stderr


def test_quiet_by_default_and_verbose_on_request(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    quiet = train_output(tmp_path / "a", capfd)
    assert "GPU available" not in quiet and "Warning" not in quiet and "log_every_n_steps" not in quiet
    verbose = train_output(tmp_path / "b", capfd, "--verbose")
    assert "GPU available" in verbose or "log_every_n_steps" in verbose, verbose[-2000:]
