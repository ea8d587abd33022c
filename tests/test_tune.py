"""`zoo tune`: search-space checks, two processes filling one SQLite study, and the trials read back
through a real `mlflow server` on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import zoo_command
from zoo.errors import ZooError
from zoo.models.mlp_heads.config import MLPHeadsConfig
from zoo.tune import check_space, declared_space, parse_space, tune

TINY = ["--set", "data=iris", "--set", "epochs=2", "--set", "hidden=8", "--set", "batch_size=32", "--set", "checkpoint_every=0"]


def test_config_declares_its_search_space() -> None:
    space = check_space(declared_space(MLPHeadsConfig), MLPHeadsConfig, {})
    assert space["lr"] == {"low": 1e-4, "high": 3e-2, "log": True, "type": "float"}
    assert space["hidden"]["type"] == "categorical" and [64, 64] in space["hidden"]["choices"]


@pytest.mark.parametrize("entry,message", [("dropout=0:1.5", "outside the field's valid range"),
                                           ("widthh=1:4", "unknown field 'widthh'"),
                                           ("lr=0:0.1:log", "needs LOW > 0"),
                                           ("lr=0.1:0.01", "is empty"),
                                           ("lr=fast", "must be numbers"), ("lr", "is not FIELD=LOW:HIGH")])
def test_bad_search_space_is_a_one_line_error(entry: str, message: str) -> None:
    with pytest.raises(ZooError, match=message) as err:
        check_space(parse_space([entry], MLPHeadsConfig), MLPHeadsConfig, {})
    assert "\n" not in str(err.value)


def test_zero_trials_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="at least 1 trial"):
        tune("mlp-heads", trials=0, search="random", out=tmp_path, storage=None, study_name=None, tracking_uri=None,
             metric="val/loss", direction="minimize", space_entries=[], fixed={}, prune=False, seed=0)
    assert not any(tmp_path.iterdir())  # nothing written


@pytest.fixture(scope="module")
def shared_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two `zoo tune` processes (2 trials each, different seeds) on one SQLite storage and one output folder."""
    out = tmp_path_factory.mktemp("tune")
    storage = f"sqlite:///{out / 'study.db'}"
    common = [*zoo_command(), "tune", "mlp-heads", "--trials", "2", "--search", "tpe", "--out", str(out),
              "--storage", storage, "--study", "shared", "--no-prune", *TINY]
    procs = [subprocess.Popen([*common, "--seed", str(seed)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for seed in (1, 2)]
    for proc in procs:
        output, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, output[-2000:]
    return out


def test_two_processes_share_one_study_without_losing_trials(shared_study: Path) -> None:
    import optuna

    study = optuna.load_study(study_name="shared", storage=f"sqlite:///{shared_study / 'study.db'}")
    assert len(study.trials) == 4 and all(t.state.name == "COMPLETE" for t in study.trials)
    assert sorted(t.number for t in study.trials) == [0, 1, 2, 3]
    run_dirs = {t.user_attrs["run_dir"] for t in study.trials}
    assert len(run_dirs) == 4
    best = json.loads((shared_study / "best.json").read_text())
    assert best["best_value"] == pytest.approx(min(t.value for t in study.trials))
    # the best trial is a normal zoo run: weights, metrics and config to export/push/demo from
    best_dir = Path(best["best_run_dir"])
    assert (best_dir / "model.safetensors").exists() and (best_dir / "metrics.json").exists()
    assert (shared_study / "optimization_history.png").stat().st_size > 1000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mlflow_server_shows_every_trial(shared_study: Path) -> None:
    import mlflow

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1", "--backend-store-uri", str(shared_study / "mlruns")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        uri = f"http://127.0.0.1:{port}"
        client = mlflow.MlflowClient(uri)
        deadline = time.monotonic() + 120
        while True:
            try:
                experiment = client.get_experiment_by_name("shared")
                break
            except Exception:  # server not up yet
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(1)
        runs = client.search_runs([experiment.experiment_id])
        assert sorted(r.info.run_name for r in runs) == [f"trial-{i:03d}" for i in range(4)]
        for run in runs:
            assert {"lr", "hidden", "dropout"} <= set(run.data.params)
            assert "test/acc" in run.data.metrics and "best/val/loss" in run.data.metrics
            assert len(client.get_metric_history(run.info.run_id, "val/loss")) == 2  # one point per epoch
            assert "config.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_unknown_fixed_field_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ZooError, match="unknown config key 'widthh'"):
        tune("mlp-heads", trials=1, search="random", out=tmp_path, storage=None, study_name=None, tracking_uri=None,
             metric="val/loss", direction="minimize", space_entries=[], fixed={"widthh": "3"}, prune=False, seed=0)
    assert not any(tmp_path.iterdir())


def test_processes_starting_together_share_one_mlflow_experiment(tmp_path: Path) -> None:
    """The CI failure this guards against: two trials both saw no experiment and both created it."""
    import threading

    import mlflow

    from zoo.tune import experiment_id

    uri = (tmp_path / "mlruns").as_uri()
    barrier = threading.Barrier(6)
    ids: list[str] = []

    def ask() -> None:
        client = mlflow.MlflowClient(uri)
        barrier.wait()
        ids.append(experiment_id(client, uri, "together"))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(ids) == 6 and len(set(ids)) == 1
    names = [e.name for e in mlflow.MlflowClient(uri).search_experiments()]
    assert names.count("together") == 1
