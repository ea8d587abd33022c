"""Reliability promises (docs/RELIABILITY.md): outputs never remove what a user made, concurrent runs
never share a run directory, and a push uploads regular files only."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from cli import main
from zoo import io as zio
from zoo.errors import ZooError


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


# -- item 1: an output path never deletes a directory ------------------------------------------------------

def test_atomic_write_refuses_an_existing_directory_and_leaves_it_untouched(tmp_path: Path) -> None:
    target = tmp_path / "mine"
    (target / "sub").mkdir(parents=True)
    (target / "sub" / "keep.txt").write_text("precious")
    with pytest.raises(ZooError, match="is an existing directory"):
        zio.write_json(target, {"a": 1})
    assert (target / "sub" / "keep.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]  # no temporary left behind


@pytest.mark.parametrize("command", ["eval", "verify"])
def test_json_option_pointing_at_a_directory_is_one_line_and_the_directory_survives(
        command: str, siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "results"
    out_dir.mkdir()
    (out_dir / "notes.txt").write_text("mine")
    source = siamese_run
    if command == "verify":
        code, _, err = run_cli(["export", str(siamese_run), "--to", "onnx", "--out", str(tmp_path / "exp")], capsys)
        assert code == 0, err
        [source] = (tmp_path / "exp").glob("*.onnx")
    code, _, err = run_cli([command, str(source), "--json", str(out_dir)], capsys)
    assert code != 0
    assert "is an existing directory" in err and "Traceback" not in err, err
    assert (out_dir / "notes.txt").read_text() == "mine"


# -- item 2: run directories are claimed atomically ---------------------------------------------------------

def test_runs_started_in_the_same_second_get_their_own_directories(tmp_path: Path) -> None:
    from zoo.engine import claim_run_dir, new_run_dir

    paths = [new_run_dir(tmp_path, "siamese") for _ in range(6)]
    assert len(set(paths)) == 1  # all computed before any exists: the race the issue describes
    barrier = threading.Barrier(len(paths))
    claimed: list[Path] = []

    def claim(path: Path) -> None:
        barrier.wait()
        claimed.append(claim_run_dir(path))

    threads = [threading.Thread(target=claim, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(claimed)) == len(paths)
    assert all(p.is_dir() for p in claimed)


def test_run_dir_holding_a_finished_run_is_refused(siamese_run: Path, tmp_path: Path) -> None:
    from zoo.engine import claim_run_dir

    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    before = (run / "model.safetensors").read_bytes()
    with pytest.raises(ZooError, match="already holds a finished run"):
        claim_run_dir(run)
    assert (run / "model.safetensors").read_bytes() == before
    assert claim_run_dir(run, resume=True) == run  # --resume keeps working on its own directory


# -- item 4: push uploads regular files only ---------------------------------------------------------------

def test_push_skips_symlinks_and_files_that_are_not_what_their_extension_says(siamese_run: Path, tmp_path: Path) -> None:
    from zoo import artifacts
    from zoo.hub import _run_files

    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    secret = tmp_path / "secret.txt"
    secret.write_text("api-key")
    os.symlink(secret, run / "leak.png")
    (run / "fake.png").write_text("not a png")
    files = _run_files(artifacts.load(run), tmp_path / "staging")
    assert "leak.png" not in files and "fake.png" not in files
    assert any(name.endswith(".png") for name in files)  # the real pictures still go
    assert all(not path.is_symlink() for path in files.values())


# -- item 3: SIGTERM / SIGINT exit non-zero with the resume command ----------------------------------------

LONG = ["--epochs", "1", "--steps-per-epoch", "400", "--checkpoint-every", "2", "--batch-size", "8", "--image-size", "20",
        "--channels", "4,8", "--embedding-dim", "8", "--val-trials", "10", "--eval-trials", "10", "--no-progress"]


def as_from_a_shell() -> None:
    """In the child before exec: SIGINT/SIGTERM unblocked and at their default, as a shell starts a command.
    An ignored or blocked signal survives exec, and after some earlier tests of a full run this pytest
    process passes SIGINT on ignored (a child then trained to the end and exited 0), so the test would
    otherwise measure the harness, not zoo."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_mid_training_exits_non_zero_keeps_the_checkpoint_and_prints_the_resume_command(
        signum: int, code: int, tmp_path: Path) -> None:
    from conftest import zoo_command

    run = tmp_path / "run"
    proc = subprocess.Popen([*zoo_command(), "train", "siamese", "--run-dir", str(run), *LONG],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_shell)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 300
    while not last.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == code, err[-2000:]
    assert f"zoo train siamese --resume {run}" in " ".join(err.split()), err[-2000:]
    assert "Traceback" not in err
    assert last.exists() and not (run / "metrics.json").exists()


# -- item 6: shared options are bounded before anything is written ------------------------------------------

TINY = ["--epochs", "1", "--steps-per-epoch", "1", "--batch-size", "4", "--image-size", "20", "--channels", "4,8",
        "--embedding-dim", "8", "--val-trials", "10", "--eval-trials", "10", "--no-progress"]


@pytest.mark.parametrize(("option", "value", "field"), [
    ("--lr", "inf", "lr"), ("--lr", "nan", "lr"), ("--weight-decay", "inf", "weight_decay"), ("--seed", "-1", "seed"),
    ("--strategy", "bogus", "strategy"), ("--devices", "foo", "devices")])
def test_bad_shared_option_is_one_line_and_leaves_no_run_directory(
        option: str, value: str, field: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    code, _, err = run_cli(["train", "siamese", "--out", str(out), *TINY, option, value], capsys)
    assert code != 0
    assert f"for '{field}'" in err and "Traceback" not in err, err
    assert len([line for line in err.strip().splitlines() if line.strip()]) <= 3
    assert not out.exists()


def test_yaml_boolean_is_not_an_epoch_count(tmp_path: Path) -> None:
    from zoo import registry
    from zoo.config import load_config

    (tmp_path / "c.yaml").write_text("epochs: true\n")
    with pytest.raises(ZooError, match="'epochs'"):
        load_config(registry.get("siamese").Config, yaml_path=tmp_path / "c.yaml")


def one_line(err: str) -> str:
    """The CLI's error: one `error:` line (rich may soft-wrap it) at the end of stderr, no traceback."""
    assert "Traceback" not in err and err.count("error:") == 1, err
    text = " ".join(err[err.index("error:"):].split())
    return text


# -- item 2: --run-dir at a finished run needs --overwrite ---------------------------------------------------

def test_run_dir_at_a_finished_run_needs_overwrite_which_keeps_the_users_other_files(
        siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    (run / "notes.txt").write_text("mine")
    before = (run / "model.safetensors").read_bytes()
    code, _, err = run_cli(["train", "siamese", "--run-dir", str(run), *TINY], capsys)
    assert code != 0 and "--overwrite" in one_line(err)
    assert (run / "model.safetensors").read_bytes() == before
    argv = ["train", "siamese", "--run-dir", str(run), "--overwrite", *TINY, "--seed", "5"]
    monkeypatch.setattr(sys, "argv", ["/usr/local/bin/zoo", *argv])  # recorded as the run's command
    code, _, err = run_cli(argv, capsys)
    assert code == 0, err
    assert (run / "model.safetensors").read_bytes() != before
    assert '"seed": 5' in (run / "config.json").read_text()
    assert (run / "notes.txt").read_text() == "mine"
    # item 10: the recorded command names no absolute local path (config.json, metrics.json, the card stub)
    for name in ("config.json", "metrics.json", "model_card.md"):
        text = (run / name).read_text()
        assert "--overwrite" in text and "<local>/run" in text and str(tmp_path) not in text, name


# -- item 6: model-specific options, hardware and numerics -----------------------------------------------------

@pytest.mark.parametrize(("options", "expected"), [
    (["--channels", "-1,5"], "for 'channels' (entry 1)"), (["--channels", "0,5"], "for 'channels' (entry 1)"),
    (["--channels", "4,100000"], "for 'channels' (entry 2)"), (["--embedding-dim", "1000000000000"], "for 'embedding_dim'"),
    (["--eval-ways", "0"], "for 'eval_ways'"), (["--val-ways", "1000"], "--val-ways 1000 needs 1000 validation classes"),
    (["--eval-ways", "5,1000"], "--eval-ways 1000 needs 1000 test classes"),
    (["--accelerator", "cuda"], "no usable CUDA GPU"), (["--accelerator", "gpu"], "no usable CUDA GPU"),
    (["--channels", "65536,65536", "--embedding-dim", "65536"], "needs 468,152,680,451 weights")])
def test_bad_model_option_is_one_line_and_leaves_no_run_directory(
        options: list[str], expected: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the CPU-only machine of the issue
    out = tmp_path / "runs"
    code, _, err = run_cli(["train", "siamese", "--out", str(out), *TINY, *options], capsys)
    assert code != 0
    assert expected in one_line(err)
    assert not out.exists()


def test_nan_loss_is_one_line_and_writes_no_final_artifacts(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from zoo.models.siamese.model import SiameseTask

    step = SiameseTask.training_step
    monkeypatch.setattr(SiameseTask, "training_step", lambda self, batch, i: step(self, batch, i) * float("nan"))
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "siamese", "--run-dir", str(run), *TINY], capsys)
    assert code != 0
    assert "the training loss became nan" in one_line(err)
    assert not (run / "model.safetensors").exists() and not (run / "metrics.json").exists()


@pytest.mark.parametrize(("argv", "expected"), [
    (["bench", "{run}", "--batch-sizes", "1000000000000"], "from 1 to 65536"),
    (["bench", "{run}", "--batch-sizes", "0"], "from 1 to 65536"),
    (["bench", "{run}", "--batch-sizes", "1e12"], "from 1 to 65536"),
    (["export", "{run}", "--opset", "1", "--out", "{out}"], "--opset 1 is not supported"),
    (["export", "{run}", "--opset", "999", "--out", "{out}"], "--opset 999 is not supported")])
def test_bad_bench_and_export_options_are_one_line_and_write_nothing(
        argv: list[str], expected: str, siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code, _, err = run_cli([a.format(run=siamese_run, out=out) for a in argv], capsys)
    assert code != 0
    assert expected in one_line(err)
    assert not out.exists()


# -- item 7: huge configs are refused before allocation, also from hf:// -------------------------------------

def _run_with_config(siamese_run: Path, target: Path, **changes: object) -> Path:
    import json

    shutil.copytree(siamese_run, target)
    doc = json.loads((target / "config.json").read_text())
    doc["config"].update(changes)
    (target / "config.json").write_text(json.dumps(doc))
    (target / "run.yaml").unlink(missing_ok=True)
    return target


def test_huge_config_beside_small_weights_is_refused_from_the_header(siamese_run: Path, tmp_path: Path) -> None:
    import resource

    from zoo import artifacts

    run = _run_with_config(siamese_run, tmp_path / "run", channels=[60000, 60000], embedding_dim=60000)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ZooError, match=r"needs [\d,]+ weights, more than the limit"):
        artifacts.load(run)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing near 1.8 TB was touched

    wide = _run_with_config(siamese_run, tmp_path / "wide", embedding_dim=64)  # valid config, other weights
    with pytest.raises(ZooError, match="has shape .* the config needs"):
        artifacts.load(wide)


@pytest.fixture(scope="module")
def fake_hub():
    from hub_server import quiet_hub

    with quiet_hub() as server:
        yield server


@pytest.mark.parametrize(("changes", "expected"), [
    ({"channels": [60000, 60000], "embedding_dim": 60000}, "weights, more than the limit"),
    ({"data": "imagefolder:/etc"}, "is a local path; a Hub config may only name a data set")])
def test_hub_config_demanding_a_huge_model_or_local_data_is_refused_before_any_weight_is_fetched(
        changes: dict, expected: str, fake_hub, siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from hub_server import hf_env, hub_environment

    doc = json.loads((siamese_run / "config.json").read_text())
    doc["config"].update(changes)
    repo = f"tester/bad-{len(fake_hub.requests)}"
    fake_hub.commit_files(repo, {"config.json": json.dumps(doc).encode(),
                                 "model.safetensors": (siamese_run / "model.safetensors").read_bytes()})
    with hub_environment(hf_env(fake_hub.url, tmp_path / "home")):
        code, _, err = run_cli(["eval", f"hf://{repo}"], capsys)
    assert code != 0
    assert expected in one_line(err)
    assert fake_hub.downloads(repo) == ["config.json"]


# -- item 8: a full disk leaves no truncated checkpoint ------------------------------------------------------

def test_full_disk_while_checkpointing_is_one_line_and_leaves_no_truncated_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    import torch

    real_save, calls = torch.save, []

    def save_until_the_disk_fills(obj, f, *args, **kwargs):  # the second checkpoint hits ENOSPC half-way
        calls.append(f)
        if len(calls) < 2:
            return real_save(obj, f, *args, **kwargs)
        f.write(b"PK\x03\x04 half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save_until_the_disk_fills)
    run = tmp_path / "run"
    code, _, err = run_cli(["train", "siamese", "--run-dir", str(run), *TINY], capsys)
    assert code != 0
    assert "the disk is full" in one_line(err) and f"--resume {run}" in one_line(err)
    checkpoints = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert checkpoints == ["best.ckpt"]  # no half-written last.ckpt, no temporary left behind
    from zoo.engine import load_checkpoint

    assert "state_dict" in load_checkpoint(run / "checkpoints" / "best.ckpt")
    assert not (run / "model.safetensors").exists()


# -- item 9: damaged or pickled checkpoints on --resume ------------------------------------------------------

class _Payload:
    """Unpickling this touches a marker file: proof that a checkpoint was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("damage", ["truncated", "pickled", "text"])
def test_resume_refuses_a_damaged_or_pickled_checkpoint_in_one_line_without_unpickling(
        damage: str, siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    (run / "model.safetensors").unlink()
    (run / "metrics.json").unlink()
    last = run / "checkpoints" / "last.ckpt"
    marker = tmp_path / "unpickled"
    if damage == "truncated":
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    elif damage == "pickled":
        torch.save({"state_dict": {}, "evil": _Payload(marker)}, last)
    else:
        last.write_text("not a checkpoint")
    code, _, err = run_cli(["train", "siamese", "--resume", str(run)], capsys)
    assert code != 0
    line = one_line(err)
    assert str(last) in line and ("truncated" in line or "never unpickles" in line), line
    assert not marker.exists()
    assert not (run / "model.safetensors").exists()


# -- item 5: one image decoder for training and the demo -----------------------------------------------------

def _unusual_images(folder: Path) -> dict[str, Path]:
    """A 16-bit grey PNG, a float TIFF and a half-transparent RGBA PNG, in class sub-folders."""
    import numpy as np
    from PIL import Image

    ramp = np.linspace(0, 1, 24 * 24).reshape(24, 24)
    paths = {"png16": folder / "a" / "png16.png", "tiff": folder / "b" / "float.tif", "rgba": folder / "c" / "rgba.png"}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((ramp * 65535).astype(np.uint16)).save(paths["png16"])
    Image.fromarray((ramp * 1000).astype(np.float32), "F").save(paths["tiff"])
    rgba = np.zeros((24, 24, 4), np.uint8)
    rgba[..., 3] = (ramp * 255).astype(np.uint8)  # black ink fading in over a transparent background
    Image.fromarray(rgba, "RGBA").save(paths["rgba"])
    return paths


def test_training_and_demo_decode_16bit_float_and_transparent_images_to_the_same_pixels(tmp_path: Path) -> None:
    import numpy as np

    from demos.inputs import image_to_array, load_image
    from zoo.data.images import load_imagefolder

    paths = _unusual_images(tmp_path / "folder")
    data = load_imagefolder(path=str(tmp_path / "folder"), size=(16, 16), color="L")
    preprocessing = {"color": "L", "size": [16, 16], "scale": 1.0, "layout": "NHWC"}
    for index, name in enumerate(["png16", "tiff", "rgba"]):  # sorted class order a, b, c
        served = image_to_array(load_image(paths[name]), preprocessing)[..., 0]
        np.testing.assert_array_equal(data.images[index].astype(np.float32), served, err_msg=name)
    assert data.images[0].max() > 200  # 16-bit white stays white instead of being clipped or wrapped
    assert data.images[2][0, 0] > 200  # transparent is paper (white), not black


def test_decompression_bomb_and_truncated_png_in_training_data_are_one_line_errors(tmp_path: Path) -> None:
    import io

    import numpy as np
    from PIL import Image

    from zoo.data.images import load_imagefolder

    bomb = tmp_path / "bomb" / "x"
    bomb.mkdir(parents=True)
    Image.new("1", (8000, 4000)).save(bomb / "bomb.png")  # 32 M pixels (limit 25 M) in a few kB
    Image.new("L", (8, 8)).save(bomb / "ok.png")
    with pytest.raises(ZooError, match="the limit is 25,000,000") as info:
        load_imagefolder(path=str(tmp_path / "bomb"), size=(8, 8))
    assert "\n" not in str(info.value)

    big = tmp_path / "trunc" / "x"
    big.mkdir(parents=True)
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (1200, 1200), dtype=np.uint8)).save(buffer, "PNG")
    (big / "big.png").write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 9 // 10])
    with pytest.raises(ZooError, match="truncated or corrupt"):
        load_imagefolder(path=str(tmp_path / "trunc"), size=(8, 8))


# -- item 9: one-line errors for damaged files and impossible outputs ----------------------------------------

@pytest.fixture(scope="module")
def exported(siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The siamese ONNX export, written into a folder that held the staging folder of a killed export."""
    import socket

    from exporters.export import export

    out = tmp_path_factory.mktemp("exported")
    stale = out / f".zoo-export-{socket.gethostname()}-{_dead_pid()}-abcd1234"
    (stale / "partial").mkdir(parents=True)
    result = export(siamese_run, "onnx", out)
    assert not stale.exists()
    assert not list(out.glob(".zoo-export-*"))
    return result.path


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_non_utf8_yaml_config_is_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "c.yaml"
    config.write_bytes("epochs: 1\nname: caf\xe9\n".encode("latin-1"))
    out = tmp_path / "runs"
    code, _, err = run_cli(["train", "siamese", "--config", str(config), "--out", str(out)], capsys)
    assert code != 0 and "is not UTF-8 text" in one_line(err)
    assert not out.exists()


@pytest.mark.parametrize("content", [b"{", b"[1, 2]", b"\xff\xfe{}"])
def test_invalid_metrics_json_is_one_line(content: bytes, siamese_run: Path, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    (run / "metrics.json").write_bytes(content)
    code, _, err = run_cli(["eval", str(run)], capsys)
    assert code != 0 and str(run / "metrics.json") in one_line(err)


@pytest.mark.parametrize("damage", ["sidecar", "metadata", "external-data"])
def test_damaged_parity_report_or_onnx_external_data_outside_is_one_line(
        damage: str, exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx

    from exporters.onnx import META_PARITY

    target = tmp_path / exported.name
    shutil.copy(exported, target)
    if damage == "sidecar":
        target.with_name(target.name + ".parity.json").write_text("{not json")
        expected = "is not valid JSON"
    else:
        proto = onnx.load(str(target))
        if damage == "metadata":
            for prop in proto.metadata_props:
                if prop.key == META_PARITY:
                    prop.value = "{broken"
            expected = "the parity metadata"
        else:
            tensor = proto.graph.initializer[0]
            tensor.ClearField("raw_data")
            tensor.data_location = onnx.TensorProto.EXTERNAL
            del tensor.external_data[:]
            tensor.external_data.add(key="location", value="../../../../etc/passwd")
            expected = "refused by onnx"
        onnx.save(proto, str(target))
    code, _, err = run_cli(["verify", str(target)], capsys)
    assert code != 0 and expected in one_line(err)


@pytest.mark.parametrize("where", ["file", "proc"])
def test_export_out_an_existing_file_or_an_unwritable_place_is_one_line(
        where: str, siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "taken.txt" if where == "file" else Path("/proc/zoo-reliability-test")
    if where == "file":
        out.write_text("mine")
    code, _, err = run_cli(["export", str(siamese_run), "--out", str(out)], capsys)
    assert code != 0
    assert ("is an existing file" if where == "file" else "cannot write into the output folder") in one_line(err)
    if where == "file":
        assert out.read_text() == "mine"


# -- item 10: file modes ------------------------------------------------------------------------------------

def test_weights_and_exports_have_the_mode_of_other_artifacts(siamese_run: Path, exported: Path) -> None:
    import stat

    from zoo.io import _UMASK

    plain = 0o666 & ~_UMASK  # what `open(path, "w")` gives a new file (0644 under the usual umask 022)
    for path in (siamese_run / "model.safetensors", siamese_run / "config.json", siamese_run / "metrics.json", exported):
        assert stat.S_IMODE(path.stat().st_mode) == plain, path


def test_hub_file_named_with_windows_parent_segments_is_never_fetched(
        fake_hub, siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from hub_server import hf_env, hub_environment

    repo = "tester/dotdot"
    fake_hub.commit_files(repo, {"config.json": (siamese_run / "config.json").read_bytes(),
                                 "model.safetensors": (siamese_run / "model.safetensors").read_bytes(),
                                 "..\\..\\x.png": b"\x89PNG\r\n\x1a\n not really", "curves.png": (siamese_run / "training_curves.png").read_bytes()})
    with hub_environment(hf_env(fake_hub.url, tmp_path / "home")):
        code, out, err = run_cli(["pull", repo], capsys)
    assert code == 0, err
    assert "..\\..\\x.png" not in fake_hub.downloads(repo) and "curves.png" in fake_hub.downloads(repo)
    assert not list(tmp_path.rglob("x.png"))


def test_push_of_an_older_run_cuts_absolute_paths_from_the_recorded_command(siamese_run: Path, tmp_path: Path) -> None:
    import json

    from zoo import artifacts
    from zoo.hub import _run_files

    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    for name in ("config.json", "metrics.json"):
        doc = json.loads((run / name).read_text())
        (run / name).write_text(json.dumps({**doc, "command": "zoo train siamese --run-dir /home/alice/secret/run"}))
    files = _run_files(artifacts.load(run), tmp_path / "staging")
    for name in ("config.json", "metrics.json"):
        recorded = json.loads(files[name].read_text())["command"]
        assert recorded == "zoo train siamese --run-dir '<local>/run'", name


def test_resume_keeps_the_metrics_rows_logged_before_the_checkpoint(siamese_run: Path, tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    import csv
    import json

    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    (run / "model.safetensors").unlink()
    (run / "metrics.json").unlink()
    doc = json.loads((run / "config.json").read_text())
    doc["config"]["epochs"] = 2  # the run was stopped after epoch 1 of 2
    (run / "config.json").write_text(json.dumps(doc))
    log = run / "logs" / "main" / "metrics.csv"
    before = [row["step"] for row in csv.DictReader(log.open())]
    assert before
    code, _, err = run_cli(["train", "siamese", "--resume", str(run), "--no-progress"], capsys)
    assert code == 0, err
    after = [row["step"] for row in csv.DictReader(log.open())]
    assert after[: len(before)] == before and len(after) > len(before)
    assert max(map(int, after)) >= 6  # epoch 2 was logged too


# -- item 10: smaller things ---------------------------------------------------------------------------------

def test_yaml_naming_another_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "c.yaml").write_text("model: nlnl\nepochs: 1\n")
    out = tmp_path / "runs"
    code, _, err = run_cli(["train", "siamese", "--config", str(tmp_path / "c.yaml"), "--out", str(out)], capsys)
    assert code != 0 and "is a config for model 'nlnl', not 'siamese'" in one_line(err)
    assert not out.exists()


def test_csv_error_quotes_the_cell_that_is_not_a_number(tmp_path: Path) -> None:
    from zoo.data.tabular import load_csv

    rows = "a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(6)) + "6,oops,0\n"
    (tmp_path / "t.csv").write_text(rows)
    with pytest.raises(ZooError, match=r"column 'b' .* \('oops' in row 8\)"):
        load_csv(path=str(tmp_path / "t.csv"), target="label")


def test_verify_of_a_folder_says_it_is_a_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["verify", str(tmp_path)], capsys)
    assert code != 0 and "is a folder" in one_line(err) and "does not exist" not in err


@pytest.mark.parametrize("cell", ["inf", "1e308", "-inf"])
def test_csv_cell_beyond_float_range_is_one_line(cell: str, tmp_path: Path) -> None:
    from zoo.data.tabular import load_csv

    rows = "a,b,label\n" + "".join(f"{i},{i * 2},{i % 2}\n" for i in range(6)) + f"6,{cell},0\n"
    (tmp_path / "t.csv").write_text(rows)
    with pytest.raises(ZooError, match=r"column 'b' .* \(data row 7\); values must be finite"):
        load_csv(path=str(tmp_path / "t.csv"), target="label")


def test_nan_weights_are_one_line_on_eval(siamese_run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from safetensors.torch import load_file, save_file

    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    state = load_file(run / "model.safetensors")
    key = next(k for k, v in state.items() if v.is_floating_point())
    state[key][0] = float("nan")
    save_file(state, run / "model.safetensors")
    code, _, err = run_cli(["eval", str(run)], capsys)
    assert code != 0 and f"weight {key}" in one_line(err) and "NaN" in one_line(err)
