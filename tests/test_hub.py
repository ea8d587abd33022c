"""`zoo push` / `zoo pull` / `hf://` sources against a local fake of the Hugging Face Hub (tests/hub_server.py).

The client side is the real code: zoo's CLI and huggingface_hub's HfApi / snapshot_download talking HTTP to
127.0.0.1. Most commands run in this process with the HF environment applied as a user would set it (see
``hub_environment``); the round trip evaluates in a fresh `zoo` process to prove nothing is shared in memory.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest
from hub_server import FakeHub, hf_env, hub_environment, quiet_hub


OWNER = "zoo-tester"
REPO = f"{OWNER}/siamese-tiny"
TOKEN = "hf_fake_write_token"


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def one_line_error(self) -> str:
        """The error line; asserts the CLI printed exactly one line and no traceback."""
        text = self.err.strip()
        assert self.code != 0, f"expected a failure, got exit 0: {self.out}"
        assert "\n" not in text and "Traceback" not in text, f"not a one-line error:\n{self.err}"
        assert text.startswith("error: "), text
        return text


def run_zoo(*args: str, env: dict[str, str | None]) -> CliResult:
    """`zoo ARGS` in this process, under ``env``."""
    import cli

    out, err = io.StringIO(), io.StringIO()
    with hub_environment(env), redirect_stdout(out), redirect_stderr(err):
        try:
            cli.main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_zoo_process(*args: str, env: dict[str, str | None], cwd: Path) -> CliResult:
    """`zoo ARGS` as a fresh process, with ``env`` in its environment from start-up."""
    full = {**os.environ}
    for key, value in env.items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    script = Path(sys.executable).with_name("zoo")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cli"]
    proc = subprocess.run([*command, *args], env=full, cwd=cwd, capture_output=True, text=True, timeout=600)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


# -- fixtures ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def hub() -> Iterator[FakeHub]:
    with quiet_hub({OWNER: TOKEN}) as server:
        yield server


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HF_HOME shared by the tests that work with the pushed repo."""
    return tmp_path_factory.mktemp("hf-home")


@pytest.fixture(scope="module")
def pushed(hub: FakeHub, home: Path, siamese_run: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The tiny siamese run pushed to REPO with ONNX and Keras exports; the run copy is deleted afterwards."""
    run = tmp_path_factory.mktemp("push") / "run"
    shutil.copytree(siamese_run, run)
    result = run_zoo("push", str(run), "--repo", REPO, "--with", "onnx,keras", env=hf_env(hub.url, home, token=TOKEN))
    assert result.code == 0, result.err
    metrics = json.loads((run / "metrics.json").read_text())
    shutil.rmtree(run)  # from here on, the Hub is the only copy
    return {"commit": hub.head(REPO).oid, "metrics": metrics["metrics"], "output": result.out}


# -- push ---------------------------------------------------------------------------------------------------

def test_push_uploads_one_commit_with_weights_config_exports_and_card(hub: FakeHub, pushed: dict, siamese_run: Path) -> None:
    from zoo.hub import sha256_of

    history = hub.history(REPO)
    assert len(history) == 2  # the repo's initial commit + exactly one push
    assert history[0].oid == pushed["commit"] and pushed["commit"][:12] in pushed["output"]
    files = history[0].files
    assert {"model.safetensors", "config.json", "config.yaml", "metrics.json", "splits.json", "training_curves.png",
            "model.onnx", "model.onnx.parity.json", "model.keras", "model.keras.parity.json", "README.md"} <= set(files)
    assert not any(name.startswith(("checkpoints", "logs")) or name.endswith(".ckpt") for name in files)
    assert "model_card.md" not in files  # README.md replaces the training stub
    for name in ("model.safetensors", "config.json", "metrics.json"):
        assert files[name].data == (siamese_run / name).read_bytes()
    assert files["model.safetensors"].lfs and files["model.safetensors"].sha256 == sha256_of(siamese_run / "model.safetensors")
    for fmt in ("onnx", "keras"):
        parity = json.loads(files[f"model.{fmt}.parity.json"].data)
        assert parity["passed"] and parity["target"]["file"] == f"model.{fmt}" and parity["source"]["path"] == f"hf://{REPO}"


def test_model_card_metadata_and_results_table(hub: FakeHub, pushed: dict) -> None:
    from huggingface_hub import ModelCard

    content = hub.head(REPO).files["README.md"].data.decode()
    card = ModelCard(content)  # parses the YAML and the model-index (raises on a malformed one)
    assert card.data.library_name == "zoo" and card.data.license == "mit"
    assert card.data.pipeline_tag == "image-classification"
    assert {"zoo", "siamese", "pytorch", "safetensors", "onnx", "keras"} <= set(card.data.tags)
    recorded = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert recorded == pushed["metrics"]  # every metric, exactly
    assert {r.dataset_type for r in card.data.eval_results} == {"omniglot-minimal"}
    assert {r.dataset_split for r in card.data.eval_results} == {"test"}
    for key, value in pushed["metrics"].items():
        shown = f"{value:.0f}" if value >= 10 else f"{value:.4f}"
        assert f"| {key}{' (headline)' if key == 'test/20way_acc' else ''} | {shown} |" in content
    assert "Koch, G., Zemel, R., Salakhutdinov, R. (2015)" in content
    assert "```bash\nzoo train siamese (test)\n```" in content  # the exact training command
    assert "image_size: 24" in content and "embedding_dim: 32" in content  # its config
    assert "import onnxruntime as ort" in content and "keras.saving.load_model" in content
    assert "| model.onnx | onnxruntime" in content and "| model.keras | keras" in content  # the parity table
    assert "![training curves](training_curves.png)" in content


def test_card_metadata_passes_hub_validation_and_bad_metadata_is_rejected(hub: FakeHub, home: Path, pushed: dict,
                                                                          siamese_run: Path, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    content = hub.head(REPO).files["README.md"].data.decode()
    with hub_environment(hf_env(hub.url, home)):
        ModelCard(content).validate()  # POST /api/validate-yaml: license id, pipeline_tag, tags, model-index checks
        with pytest.raises(ValueError, match="license"):
            ModelCard(content.replace("license: mit", "license: my-own-license", 1)).validate()
        with pytest.raises(ValueError, match="pipeline_tag"):
            ModelCard(content.replace("pipeline_tag: image-classification", "pipeline_tag: one-shot", 1)).validate()
    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    bad = run_zoo("push", str(run), "--repo", f"{OWNER}/bad-license", "--license", "my-own-license",
                  env=hf_env(hub.url, home, token=TOKEN))
    assert "rejected the model card metadata" in bad.one_line_error and "license" in bad.one_line_error
    assert f"{OWNER}/bad-license" not in hub.repos  # rejected before anything was created


# -- pull, eval, export: the round trip --------------------------------------------------------------------

def test_round_trip_pull_eval_export(hub: FakeHub, home: Path, pushed: dict, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    shutil.rmtree(home / "hub", ignore_errors=True)
    env = hf_env(hub.url, home)  # pulling a public repo needs no token
    pulled = run_zoo("pull", REPO, env=env)
    assert pulled.code == 0, pulled.err
    snapshot = Path(pulled.out.strip())
    assert snapshot == home / "hub" / f"models--{OWNER}--siamese-tiny" / "snapshots" / pushed["commit"]
    assert {"model.safetensors", "config.json", "model.onnx", "README.md", ".zoo-manifest.json"} <= {p.name for p in snapshot.iterdir()}

    evaluated = run_zoo_process("eval", f"hf://{REPO}", "--json", str(tmp_path / "eval.json"), env=env, cwd=tmp_path)
    assert evaluated.code == 0, evaluated.err
    card = ModelCard((snapshot / "README.md").read_text())
    in_card = {r.metric_name: r.metric_value for r in card.data.eval_results}
    assert json.loads((tmp_path / "eval.json").read_text())["metrics"] == in_card

    exported = run_zoo("export", f"hf://{REPO}", "--to", "onnx", "--out", str(tmp_path / "onnx"), env=env)
    assert exported.code == 0, exported.err
    assert (tmp_path / "onnx" / "siamese.onnx").is_file()
    assert json.loads((tmp_path / "onnx" / "siamese.onnx.parity.json").read_text())["passed"]

    # the uploaded exports re-check against the repo's own weights, as their published reports say
    for name in ("model.onnx", "model.keras"):
        verified = run_zoo("verify", str(snapshot / name), env=env)
        assert verified.code == 0, verified.err
        assert f"parity OK against hf://{REPO}" in verified.out


def test_pull_offline_uses_the_cache_and_fails_clearly_without_one(hub: FakeHub, home: Path, pushed: dict, tmp_path: Path) -> None:
    online = run_zoo("pull", REPO, env=hf_env(hub.url, home))
    assert online.code == 0, online.err
    requests_before = len(hub.requests)
    offline = run_zoo("pull", REPO, env=hf_env(hub.url, home, offline=True))
    assert offline.code == 0, offline.err
    assert offline.out == online.out
    assert len(hub.requests) == requests_before  # nothing reached the Hub

    empty = run_zoo("pull", REPO, env=hf_env(hub.url, tmp_path / "empty-home", offline=True))
    message = empty.one_line_error
    assert "HF_HUB_OFFLINE" in message and "not in the local Hugging Face cache" in message and f"zoo pull {REPO}" in message


def test_tampered_cache_file_is_detected_and_not_loaded(hub: FakeHub, pushed: dict, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import safetensors.torch

    from zoo.hub import sha256_of

    env = hf_env(hub.url, tmp_path / "home")
    pulled = run_zoo("pull", REPO, "--files", "model.safetensors", env=env)
    assert pulled.code == 0, pulled.err
    weights = Path(pulled.out.strip()) / "model.safetensors"
    good = sha256_of(weights)
    blob = weights.resolve()  # the cache's blob behind the snapshot symlink
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0x01  # one bit in the tensor data: still a loadable safetensors file
    blob.write_bytes(bytes(data))

    reads: list[str] = []
    real_load = safetensors.torch.load_file
    monkeypatch.setattr(safetensors.torch, "load_file", lambda path, *a, **k: reads.append(str(path)) or real_load(path, *a, **k))
    for offline in (False, True):
        result = run_zoo("eval", f"hf://{REPO}", env={**env, "HF_HUB_OFFLINE": "1" if offline else None})
        message = result.one_line_error
        assert "model.safetensors" in message and "does not match the Hub" in message and "sha256" in message
    assert reads == []  # the weights were never read

    repaired = run_zoo("pull", REPO, "--files", "model.safetensors", "--force-download", env=env)
    assert repaired.code == 0, repaired.err
    assert sha256_of(weights) == good

    config = (weights.parent / "config.json").resolve()  # a regular (non-LFS) file: checked by its git blob id
    config.write_text(config.read_text().replace('"lr": 0.002', '"lr": 0.003'))
    assert "config.json" in (message := run_zoo("pull", REPO, env=env).one_line_error) and "git blob sha1" in message


def test_config_is_validated_before_any_weight_is_downloaded_and_pickles_never_are(hub: FakeHub, pushed: dict, tmp_path: Path) -> None:
    weights = hub.head(REPO).files["model.safetensors"].data
    config = json.loads(hub.head(REPO).files["config.json"].data)
    hub.commit_files(f"{OWNER}/not-a-zoo-model", {"config.json": json.dumps({**config, "model": "evil"}).encode(),
                                                  "model.safetensors": weights})
    hub.create_branch(REPO, "with-pickles", start=pushed["commit"])
    hub.commit_files(REPO, {"pytorch_model.bin": b"\x80\x04 pickle", "modeling.py": b"import os"}, branch="with-pickles")

    env = hf_env(hub.url, tmp_path / "home")
    rejected = run_zoo("pull", f"{OWNER}/not-a-zoo-model", env=env)
    assert "no usable zoo config" in rejected.one_line_error and "unknown model 'evil'" in rejected.one_line_error
    assert hub.downloads(f"{OWNER}/not-a-zoo-model") == ["config.json"]

    pulled = run_zoo("pull", f"{REPO}@with-pickles", env=env)
    assert pulled.code == 0, pulled.err
    names = {p.name for p in Path(pulled.out.strip()).iterdir()}
    assert "model.safetensors" in names and not names & {"pytorch_model.bin", "modeling.py"}
    assert not {"pytorch_model.bin", "modeling.py"} & set(hub.downloads(REPO))
    assert "never pickles or code" in run_zoo("pull", REPO, "--files", "pytorch_model.bin", env=env).one_line_error


def test_push_to_a_branch_and_pull_revisions(hub: FakeHub, pushed: dict, siamese_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(siamese_run, run)
    bench = {"summary": [{"runtime": "onnxruntime", "batch_size": 1, "p50_ms": 0.25}], "machine": {"cpu": "Test CPU"}}
    (run / "bench.json").write_text(json.dumps(bench))
    env = hf_env(hub.url, tmp_path / "home", token=TOKEN)
    result = run_zoo("push", str(run), "--repo", REPO, "--revision", "experiment", "--commit-message", "try a branch", env=env)
    assert result.code == 0, result.err
    branch_head = hub.head(REPO, "experiment")
    assert branch_head.summary == "try a branch" and hub.head(REPO).oid == pushed["commit"]  # main untouched
    card = branch_head.files["README.md"].data.decode()
    assert "hf://zoo-tester/siamese-tiny@experiment" in card
    assert "bench.json" in branch_head.files and "on Test CPU" in card and "| onnxruntime | 1 | 0.2500 |" in card
    # the branch started from main; this push has no exports, so main's (now stale) ones are not left behind
    assert "model.onnx" not in branch_head.files and "model.keras.parity.json" not in branch_head.files
    assert ".gitattributes" in branch_head.files and "model.onnx" in hub.head(REPO).files

    on_branch = run_zoo("pull", f"{REPO}@experiment", env=env)
    by_commit = run_zoo("pull", f"hf://{REPO}@{pushed['commit']}", env=env)
    assert Path(on_branch.out.strip()).name == branch_head.oid
    assert Path(by_commit.out.strip()).name == pushed["commit"]


def test_private_push_needs_a_token_to_pull(hub: FakeHub, siamese_run: Path, tmp_path: Path) -> None:
    private = f"{OWNER}/private-siamese"
    pushed = run_zoo("push", str(siamese_run), "--repo", private, "--private", env=hf_env(hub.url, tmp_path / "a", token=TOKEN))
    assert pushed.code == 0, pushed.err
    assert hub.repos[private].private
    anonymous = run_zoo("pull", private, "--files", "config.json", env=hf_env(hub.url, tmp_path / "b"))
    assert "not found" in anonymous.one_line_error and "if it is private" in anonymous.one_line_error
    logged_in = run_zoo("pull", private, "--files", "config.json", env=hf_env(hub.url, tmp_path / "b", token=TOKEN))
    assert logged_in.code == 0, logged_in.err


@pytest.mark.parametrize("case", ["tokenless push", "rejected token", "other namespace", "missing repo",
                                  "missing revision", "network error", "bad repo id", "unknown export format"])
def test_hub_failures_are_one_line_errors(case: str, hub: FakeHub, pushed: dict, siamese_run: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    args, env, expected = {
        "tokenless push": (["push", str(siamese_run), "--repo", REPO], hf_env(hub.url, home), ["hf auth login", "HF_TOKEN"]),
        "rejected token": (["push", str(siamese_run), "--repo", REPO], hf_env(hub.url, home, token="hf_wrong"), ["rejected the Hugging Face token", "hf auth login"]),
        "other namespace": (["push", str(siamese_run), "--repo", "someone-else/model"], hf_env(hub.url, home, token=TOKEN),
                            ["may not write to someone-else/model", "403"]),
        "missing repo": (["pull", f"{OWNER}/does-not-exist"], hf_env(hub.url, home), ["repository zoo-tester/does-not-exist not found"]),
        "missing revision": (["pull", f"{REPO}@no-such-branch"], hf_env(hub.url, home), ["revision 'no-such-branch' not found in"]),
        "network error": (["pull", REPO], hf_env("http://127.0.0.1:9", home), ["cannot reach the Hugging Face Hub", "HF_ENDPOINT"]),
        "bad repo id": (["pull", "just-a-name"], hf_env(hub.url, home), ["not a Hub model id", "OWNER/NAME"]),
        "unknown export format": (["push", str(siamese_run), "--repo", REPO, "--with", "tflite"], hf_env(hub.url, home, token=TOKEN),
                                  ["unknown export format 'tflite'"]),
    }[case]
    commits = len(hub.history(REPO))
    message = run_zoo(*args, env=env).one_line_error
    for part in expected:
        assert part in message
    assert len(hub.history(REPO)) == commits


# -- fine-tuning from Hub weights ----------------------------------------------------------------------------

def test_train_init_from_hub_starts_from_the_pulled_weights(hub: FakeHub, pushed: dict, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard
    from safetensors.torch import load_file

    from zoo import registry

    run = tmp_path / "finetune"
    from zoo import registry

    tiny = {**registry.card("siamese").tiny, "steps_per_epoch": 2, "val_trials": 10, "eval_trials": 10, "eval_ways": "5", "checkpoint_every": 0}
    options = [f"--{k.replace('_', '-')}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in tiny.items()]
    env = hf_env(hub.url, tmp_path / "home")
    # a learning rate so small that training cannot move the weights measurably: they must be the Hub's
    result = run_zoo("train", "siamese", f"--init-from=hf://{REPO}", "--lr=1e-9", "--weight-decay=0", *options,
                     f"--run-dir={run}", "--no-progress", env=env)
    assert result.code == 0, result.err

    snapshot = Path(run_zoo("pull", REPO, "--files", "model.safetensors", env=env).out.strip())
    source = load_file(str(snapshot / "model.safetensors"))
    tuned = load_file(str(run / "model.safetensors"))
    fresh = registry.create("siamese", {**tiny, "eval_ways": [5]}).build_model().state_dict()
    learned = [k for k in source if "running_" not in k and "num_batches_tracked" not in k]  # parameters, not BN statistics
    assert learned and set(tuned) == set(source)
    assert max(float((tuned[k] - source[k]).abs().max()) for k in learned) < 1e-6
    assert max(float((fresh[k] - source[k]).abs().max()) for k in learned) > 1e-4  # a fresh init would have failed
    config = json.loads((run / "config.json").read_text())["config"]
    assert config["init_from"] == f"hf://{REPO}"

    # pushed back, the fine-tune names its parent the way the Hub expects
    child = f"{OWNER}/siamese-finetuned"
    assert run_zoo("push", str(run), "--repo", child, env={**env, "HF_TOKEN": TOKEN}).code == 0
    card = ModelCard(hub.head(child).files["README.md"].data.decode())
    assert card.data.base_model == REPO and card.data.base_model_relation == "finetune"


def test_push_uploads_every_graph_of_the_export_spec(hub: FakeHub, tiny_run, tmp_path: Path) -> None:
    """rotnet exports its encoder as a graph of its own: the push carries model.encoder.onnx/.keras with
    their parity reports, the card lists them, and a pull brings them back."""
    repo = f"{OWNER}/rotnet-tiny"
    run = tmp_path / "run"
    shutil.copytree(tiny_run("rotnet"), run)
    home = tmp_path / "hf-home"
    result = run_zoo("push", str(run), "--repo", repo, "--with", "onnx,keras", env=hf_env(hub.url, home, token=TOKEN))
    assert result.code == 0, result.err
    files = hub.history(repo)[0].files
    for name in ("model.encoder.onnx", "model.encoder.keras"):
        parity = json.loads(files[f"{name}.parity.json"].data)
        assert parity["passed"] and parity["graph"] == "encoder" and parity["target"]["file"] == name
    card = files["README.md"].data.decode()
    assert "model.encoder.onnx" in card and "model.onnx" in card
    pulled = run_zoo("pull", repo, env=hf_env(hub.url, tmp_path / "fresh-home", token=TOKEN))
    assert pulled.code == 0, pulled.err
    from exporters.sources import resolve_source

    encoder = next((tmp_path / "fresh-home").rglob("model.encoder.onnx"))
    assert resolve_source(encoder).spec.graph_name == "encoder"
