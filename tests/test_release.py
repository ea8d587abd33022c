"""A release against the local fake Hub (tests/hub_server.py), then the published preset used as a new user
would: `zoo demo siamese --pretrained` in a new empty folder serves the pushed model.onnx with no training and
no torch import; eval/--init-from resolve the same preset; a flipped byte is refused in one line."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from hub_server import FakeHub, hf_env, quiet_hub
from test_hub import run_zoo

OWNER = "zoo-release"
TOKEN = "hf_fake_release_token"
REPO = f"{OWNER}/siamese-tiny"
ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "demos" / "assets"


@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with quiet_hub({OWNER: TOKEN}) as server:
        yield server


@pytest.fixture(scope="module")
def released(hub: FakeHub, siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """`zoo release --recipe tiny --models siamese --run` (the session's tiny siamese run, so the suite trains it
    once), in this process, into a fresh presets file. The environment's HF_ENDPOINT names a closed port: the
    release reaches the Hub only through `--endpoint`. Keras is left out here: test_hub pushes it."""
    from hub_server import hub_environment

    from cli import main

    work = tmp_path_factory.mktemp("release")
    presets = work / "presets.json"
    with hub_environment(hf_env(f"http://127.0.0.1:{_free_port()}", work / "hf-home", token=TOKEN)):
        with pytest.raises(SystemExit) as done:
            main(["release", "--owner", OWNER, "--models", "siamese", "--recipe", "tiny", "--run", str(siamese_run),
                  "--endpoint", hub.url, "--formats", "onnx,fp16,int8", "--presets-file", str(presets), "--no-progress"])
    assert done.value.code in (0, None)
    return {"presets": presets, "run": siamese_run}


def user_env(hub: FakeHub, home: Path, presets: Path) -> dict[str, str | None]:
    """A new user's environment: an empty Hugging Face cache, no token, the release's presets file."""
    return {**hf_env(hub.url, home), "ZOO_PRESETS": str(presets)}


def test_release_pushes_every_format_and_records_the_preset(hub: FakeHub, released: dict) -> None:
    from zoo.hub import sha256_of

    doc = json.loads(released["presets"].read_text())
    (entry,) = doc["models"]["siamese"]
    assert entry["name"] == "tiny" and entry["weights"] == f"hf://{REPO}@{hub.head(REPO).oid}"
    files = hub.head(REPO).files
    for name in ("model.safetensors", "model.onnx", "onnx/model_fp16.onnx", "onnx/model_int8.onnx", "demo.json"):
        assert name in files and entry["files"][name] == files[name].sha256, name
    assert entry["sha256"] == sha256_of(released["run"] / "model.safetensors")
    recorded = json.loads((released["run"] / "metrics.json").read_text())["metrics"]
    assert entry["metrics"] == recorded and 0.0 <= entry["metrics"]["test/20way_acc"] <= 1.0
    card = files["README.md"].data.decode()
    assert "datasets:\n- omniglot-minimal" in card and "metrics:\n- accuracy" in card


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVE = textwrap.dedent('''
    import json, os, sys, threading, time
    import cli
    port = int(sys.argv[1])
    threading.Thread(target=cli.main, args=(["demo", "siamese", "--pretrained", "--port", str(port)],), daemon=True).start()
    from gradio_client import Client, handle_file
    for _ in range(600):
        try:
            client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            break
        except Exception:
            time.sleep(0.1)
    score, verdict = client.predict(handle_file(sys.argv[2]), handle_file(sys.argv[3]), api_name="/siamese_compare")
    print(json.dumps({"score": score, "heavy": sorted(m for m in ("torch", "lightning", "keras") if m in sys.modules)}))
    sys.stdout.flush()
    os._exit(0)
''')


def test_demo_pretrained_serves_the_pushed_onnx_without_torch_in_a_new_folder(hub: FakeHub, released: dict, tmp_path: Path) -> None:
    empty = tmp_path / "new-user"
    empty.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key, value in user_env(hub, tmp_path / "hf-home", released["presets"]).items():
        env.pop(key, None) if value is None else env.__setitem__(key, value)
    before = len(hub.downloads(REPO))
    left, right = ASSETS / "omniglot-greek-alpha-1.png", ASSETS / "omniglot-greek-alpha-2.png"
    proc = subprocess.run([sys.executable, "-c", SERVE, str(_free_port()), str(left), str(right)], cwd=empty, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["heavy"] == [], f"the serving process imported {result['heavy']}"
    assert 0.0 <= result["score"] <= 1.0
    fetched = hub.downloads(REPO)[before:]
    assert "model.onnx" in fetched and "demo.json" in fetched
    assert "model.safetensors" not in fetched  # served as pushed: nothing re-exported from the weights
    assert list(empty.iterdir()) == []  # no run, no export written where the user stands

    # the same model through onnxruntime in this process: the demo's score is the pushed ONNX file's
    from demos.app import onnx_model
    from demos.image_pair import PairScorer

    snapshot = next((tmp_path / "hf-home").glob("hub/models--*/snapshots/*"))
    expected, _ = PairScorer(onnx_model("siamese", snapshot / "model.onnx", {"kind": "image-pair"})).compare(str(left), str(right))
    assert result["score"] == pytest.approx(expected, abs=1e-6)


def _flip_byte(path: Path) -> None:
    real = path.resolve()  # snapshot files are links to the cache's blobs
    data = bytearray(real.read_bytes())
    data[len(data) // 2] ^= 0x01
    real.chmod(0o644)
    real.write_bytes(bytes(data))


def test_flipped_byte_in_downloaded_weights_is_refused(hub: FakeHub, released: dict, tmp_path: Path) -> None:
    env = user_env(hub, tmp_path / "hf-home", released["presets"])
    first = run_zoo("pull", f"hf://{REPO}", env=env)
    assert first.code == 0, first.err
    snapshot = Path(first.out.strip().splitlines()[-1])
    _flip_byte(snapshot / "model.safetensors")
    refused = run_zoo("eval", "siamese", "--pretrained", env=env)
    assert "model.safetensors" in refused.one_line_error and "corrupt" in refused.one_line_error
    _flip_byte(snapshot / "model.onnx")
    refused = run_zoo("demo", "siamese", "--pretrained", "--port", str(_free_port()), env=env)
    assert "model.onnx" in refused.one_line_error and "corrupt" in refused.one_line_error


def test_preset_hash_is_checked_beyond_the_hubs_own(hub: FakeHub, released: dict, tmp_path: Path) -> None:
    """A presets file whose recorded sha256 differs from what the Hub serves (a moved revision, a tampered
    repo): the Hub's hashes agree with the files, the release's record does not, so nothing is loaded."""
    doc = json.loads(released["presets"].read_text())
    entry = doc["models"]["siamese"][0]
    entry["sha256"] = entry["files"]["model.safetensors"] = "0" * 64
    tampered = tmp_path / "presets.json"
    tampered.write_text(json.dumps(doc))
    refused = run_zoo("eval", "siamese", "--pretrained", env=user_env(hub, tmp_path / "hf-home", tampered))
    assert "not the recorded" in refused.one_line_error and "model.safetensors" in refused.one_line_error


def test_eval_and_init_from_use_the_published_preset(hub: FakeHub, released: dict, tmp_path: Path) -> None:
    env = user_env(hub, tmp_path / "hf-home", released["presets"])
    result = run_zoo("eval", "siamese", "--pretrained", "--json", str(tmp_path / "eval.json"), env=env)
    assert result.code == 0, result.err
    assert "published weights of siamese (preset tiny" in result.out
    recorded = json.loads((released["run"] / "metrics.json").read_text())["metrics"]
    measured = json.loads((tmp_path / "eval.json").read_text())["metrics"]
    assert measured["test/20way_acc"] == pytest.approx(recorded["test/20way_acc"])

    from hub_server import hub_environment

    from zoo import artifacts, registry

    with hub_environment(env):
        spec = registry.create("siamese", {**registry.card("siamese").tiny, "init_from": "pretrained:siamese"})
        state = spec.init_state(artifacts.load(spec.config.init_from))
    assert state and spec.config.portable_dict()["init_from"] == "pretrained:siamese"
    missing = run_zoo("eval", "rotnet", "--pretrained", env=env)
    assert "zoo train rotnet" in missing.one_line_error


def test_space_pretrained_packages_the_pushed_onnx_and_pushes_the_space(hub: FakeHub, released: dict, tmp_path: Path) -> None:
    from zoo.hub import sha256_of

    env = {**user_env(hub, tmp_path / "hf-home", released["presets"]), "HF_TOKEN": TOKEN}
    before = len(hub.downloads(REPO))
    out = tmp_path / "space"
    result = run_zoo("space", "siamese", "--pretrained", "--out", str(out), "--push", f"{OWNER}/siamese-demo", env=env)
    assert result.code == 0, result.err
    assert "model.safetensors" not in hub.downloads(REPO)[before:]
    preset = json.loads(released["presets"].read_text())["models"]["siamese"][0]
    assert sha256_of(out / "siamese.onnx") == preset["files"]["model.onnx"]  # the pushed file, not a re-export
    space = hub.spaces[f"{OWNER}/siamese-demo"]
    assert space.sdk == "gradio"
    files = space.commits[space.branches["main"]].files
    assert {"app.py", "demo.json", "siamese.onnx", "requirements.txt", "README.md"} <= set(files)
    readme = files["README.md"].data.decode()
    assert f"models:\n  - {REPO}\n" in readme and "sdk: gradio" in readme
    assert files["siamese.onnx"].data == (out / "siamese.onnx").read_bytes()


def test_hub_model_without_demo_json_still_serves_its_pushed_onnx(hub: FakeHub, released: dict, tmp_path: Path) -> None:
    """A repo pushed before demo.json existed: the demo loads the weights (PyTorch) but serves the pushed,
    parity-checked model.onnx (its report names these weights' sha256) instead of exporting again."""
    from hub_server import hub_environment

    from demos.prepare import prepare

    older = f"{OWNER}/siamese-older"
    hub.commit_files(older, {p: f.data for p, f in hub.head(REPO).files.items()
                             if p != "demo.json" and not p.startswith(("examples/", "onnx/"))})
    said: list[str] = []
    with hub_environment(hf_env(hub.url, tmp_path / "hf-home")):
        prepared = prepare(f"hf://{older}", expected="siamese", log=said.append)
    assert prepared.source is not None and prepared.onnx is not None and prepared.onnx.name == "model.onnx"
    assert prepared.onnx.parent == prepared.source.path and not any("exporting" in line for line in said)
    assert prepared.hub_repo == older


def test_release_of_one_run_needs_its_model_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    with pytest.raises(SystemExit) as done:
        main(["release", "--owner", OWNER, "--run", str(tmp_path), "--presets-file", str(tmp_path / "presets.json")])
    err = capsys.readouterr().err.strip().splitlines()
    assert done.value.code == 2 and len(err) == 1 and "name its model with --models MODEL" in err[0]
    assert not (tmp_path / "presets.json").exists()
