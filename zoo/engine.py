"""The training engine: PyTorch Lightning with the callbacks, loggers and resume semantics users expect.

A ``Run`` owns a run directory. Models call ``run.fit_stage(module)`` once per training stage (most
models have one); the engine gives each stage best/last checkpoints, early stopping, LR monitoring,
gradient clipping, mixed precision on GPU, CSV + TensorBoard (+ MLflow) logs and rich progress.
Finished stages are saved as safetensors, so ``--resume`` skips them and continues the interrupted one
from its last checkpoint (mid-epoch included: batches are a function of the global step).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint, RichProgressBar
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from zoo.errors import ZooError, first_line
from zoo.model_size import expected_shapes

if TYPE_CHECKING:
    from torch import nn

    from zoo.registry import ZooModel

RUN_DIR_ENV = "ZOO_RUN_DIR"  # set for child processes that Lightning's DDP launcher spawns


class FiniteLoss(L.Callback):
    """Stop at the first non-finite training loss with a one-line error (the run's final artifacts are
    never written from a diverged network; its checkpoints before the divergence stay)."""

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if isinstance(loss, torch.Tensor) and not bool(torch.isfinite(loss.detach()).all()):
            raise ZooError(f"the training loss became {loss.detach().float().mean().item()} at step {trainer.global_step}; "
                           "lower --lr, keep --grad-clip on, or check the data for extreme values.")


class RunDirCheckpointIO(TorchCheckpointIO):
    """Lightning checkpoints written like every zoo file: a temporary file beside the target (the run
    directory's own file system, not /tmp), flushed to disk, then renamed; a full disk is one line and
    leaves the previous checkpoint intact. Checkpoints are read back with ``load_checkpoint`` (no pickles)."""

    def __init__(self, resume_hint: str = "") -> None:
        super().__init__()
        self.resume_hint = resume_hint

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        from zoo import io as zio
        from zoo.errors import disk_error

        path = Path(path)
        try:
            with zio.atomic_path(path) as tmp, open(tmp, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise disk_error(exc, path, f"any earlier {path.name} is intact; {self.resume_hint}") from None

    def load_checkpoint(self, path: Any, map_location: Any | None = None, weights_only: bool | None = None) -> dict[str, Any]:
        return load_checkpoint(Path(path))


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A Lightning checkpoint, loaded with ``torch.load(weights_only=True)``: tensors and plain data only,
    never arbitrary pickled objects. A truncated file or one that is not a torch checkpoint is refused."""
    import pickle
    import zipfile

    if not path.is_file():
        raise ZooError(f"checkpoint {path} does not exist; start the run again without --resume.")
    fix = f"delete {path} to restart that stage from its beginning, or start a new run"
    if not zipfile.is_zipfile(path):
        raise ZooError(f"checkpoint {path} is truncated or not a torch checkpoint, so it cannot be resumed from; {fix}.")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ZooError(f"checkpoint {path} holds objects other than tensors and plain data ({first_line(exc, 120)}); "
                       f"zoo never unpickles those: {fix}.") from None
    except (RuntimeError, EOFError, OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ZooError(f"checkpoint {path} is damaged ({first_line(exc, 120)}); {fix}.") from None
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ZooError(f"{path} is not a Lightning checkpoint (no state_dict); {fix}.")
    return checkpoint


class StepLoader:
    """A train 'loader' that yields step indices; the LightningModule builds each batch from
    ``(seed, global_step)``. This makes sampling and augmentation a pure function of the step, so a
    run resumed mid-epoch sees exactly the batches an uninterrupted run would."""

    def __init__(self, steps: int) -> None:
        self.steps = steps
        self._start = 0

    def __len__(self) -> int:
        return self.steps

    def __iter__(self) -> Iterator[int]:
        start, self._start = self._start, 0
        yield from range(start, self.steps)

    # Lightning's resumable-loader protocol. The batch content never depends on this state; it only
    # keeps the epoch the right length after a mid-epoch restart.
    def state_dict(self) -> dict[str, int]:
        return {"steps": self.steps}

    def load_state_dict(self, state: dict[str, int]) -> None:
        pass


def step_generator(seed: int, *keys: int) -> torch.Generator:
    """A torch generator seeded from (seed, *keys) with no collisions between nearby keys."""
    entropy = np.random.SeedSequence([seed & 0xFFFFFFFF, *[int(k) & 0xFFFFFFFF for k in keys]])
    gen = torch.Generator()
    gen.manual_seed(int(entropy.generate_state(1, dtype=np.uint64)[0] & 0x7FFFFFFFFFFFFFFF))
    return gen


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
    """Shuffled mini-batch indices for one epoch of an in-memory data set (a pure function of its args)."""
    order = np.random.default_rng([seed, epoch]).permutation(n)
    order = order[rank::world]
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def configure_optimizer(module: L.LightningModule, config: Any, monitor: str, mode: str,
                        groups: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """AdamW with the configured schedule; cosine is stepped per optimiser step with a short warm-up.
    ``groups``: parameter groups with their own ``lr`` (default: every trainable parameter at ``config.lr``)."""
    params: Any = groups if groups is not None else [p for p in module.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    if config.scheduler == "none":
        return {"optimizer": opt}
    if config.scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode=mode, factor=0.5, patience=2)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": monitor, "interval": "epoch"}}
    total = max(1, int(module.trainer.estimated_stepping_batches))
    warmup = min(100, total // 20)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def resolve_precision(config: Any) -> str:
    if config.precision != "auto":
        return "32-true" if config.precision == "32" else config.precision
    wants_gpu = config.accelerator in ("auto", "gpu", "cuda")
    return "16-mixed" if wants_gpu and torch.cuda.is_available() else "32-true"


def resolve_devices(devices: str) -> int | str | list[int]:
    devices = devices.strip()
    if devices == "auto":
        return "auto"
    if "," in devices:
        return [int(d) for d in devices.split(",") if d.strip()]
    try:
        return int(devices)
    except ValueError:
        raise ZooError(f"invalid --devices '{devices}'; use auto, a count like 2, or a list like 0,1.") from None


def new_run_dir(root: Path, model_name: str) -> Path:
    """``root/<model>/<timestamp>``; processes of one distributed launch agree on it."""
    if os.environ.get(RUN_DIR_ENV):
        return Path(os.environ[RUN_DIR_ENV])
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1:
        run_id = os.environ.get("TORCHELASTIC_RUN_ID", "none")
        if run_id == "none":
            raise ZooError("a multi-process launch needs an agreed run directory; pass --run-dir PATH "
                           "(or launch with `torchrun --standalone`).")
        return root / model_name / f"ddp-{run_id[:12]}"
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / model_name / stamp
    suffix = 1
    while path.exists():
        path = root / model_name / f"{stamp}-{suffix}"
        suffix += 1
    _SUFFIXABLE.add(path)
    return path


_SUFFIXABLE: set[Path] = set()  # run directories zoo named itself: a collision there gets a suffix


# What a zoo run writes into its directory; ``--overwrite`` removes exactly these (never other files).
RUN_ENTRIES = ("model.safetensors", "metrics.json", "config.json", "config.yaml", "run.yaml", "model_card.md",
               "training_curves.png", "checkpoints", "logs", "stages")


def is_finished_run(path: Path) -> bool:
    return (path / "model.safetensors").exists() or (path / "metrics.json").exists()


def clear_run(path: Path) -> None:
    """Remove a previous run's zoo-written files from ``path`` (for ``--overwrite``); other files stay."""
    import shutil

    for name in RUN_ENTRIES:
        entry = path / name
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        elif entry.exists() or entry.is_symlink():
            entry.unlink()


def claim_run_dir(path: Path, *, resume: bool = False, overwrite: bool = False) -> Path:
    """Create the run directory atomically and return it.

    Two runs started in the same second race for one ``<timestamp>`` name; ``mkdir`` without
    ``exist_ok`` lets exactly one win and the other takes ``<timestamp>-N``. A directory the user
    named (``--run-dir``) that holds a finished run is refused instead of being overwritten, unless
    ``overwrite``: then the previous run's files (``RUN_ENTRIES``) are removed first.
    """
    if resume or os.environ.get(RUN_DIR_ENV):
        path.mkdir(parents=True, exist_ok=True)
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    base, suffix = path, 1
    while True:
        try:
            path.mkdir()
            return path
        except FileExistsError:
            if base not in _SUFFIXABLE:
                if not path.is_dir():
                    raise ZooError(f"--run-dir {path} is an existing file; give a directory path.") from None
                if is_finished_run(path):
                    if not overwrite:
                        raise ZooError(f"{path} already holds a finished run; choose another --run-dir, "
                                       "or pass --overwrite to replace it.") from None
                    clear_run(path)
                return path
        path = base.with_name(f"{base.name}-{suffix}")
        suffix += 1


def is_global_zero() -> bool:
    return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0"))) == 0 and (
        not torch.distributed.is_available() or not torch.distributed.is_initialized() or torch.distributed.get_rank() == 0)


@dataclass
class Run:
    """One training run and its directory. ``spec`` is the configured ``ZooModel``."""

    dir: Path
    spec: ZooModel
    resume: bool = False
    trainer_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = True
    stage_names: list[str] = field(default_factory=list)
    parameter_summaries: dict[str, dict[str, int]] = field(default_factory=dict)  # stage -> counts at its start

    def stage_dir(self, name: str) -> Path:
        return self.dir if name == "main" else self.dir / "stages" / name

    def fit_stage(self, module: L.LightningModule, name: str = "main", epochs: int | None = None) -> nn.Module:
        """Fit ``module`` (which holds the network as ``module.model``); return the best network.

        ``module`` must define ``monitor`` and ``monitor_mode`` (the validation metric to select on).
        """
        self.stage_names.append(name)
        stage_dir = self.stage_dir(name)
        done_marker = stage_dir / "stage.safetensors"
        if name != "main" and done_marker.exists():
            from safetensors.torch import load_file

            module.model.load_state_dict(load_file(done_marker))
            return module.model.eval()

        config = self.spec.config
        ckpt_dir = stage_dir / "checkpoints"
        monitor, mode = module.monitor, module.monitor_mode
        # best.ckpt by the validation metric, last.ckpt at every epoch end and every N steps (for --resume)
        best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=monitor, mode=mode, save_top_k=1,
                               save_last=True, enable_version_counter=False, auto_insert_metric_name=False)
        callbacks: list[L.Callback] = [best, LearningRateMonitor(logging_interval="step"), FiniteLoss()]
        if config.checkpoint_every:
            callbacks.append(ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False,
                                             every_n_train_steps=config.checkpoint_every))
        if config.early_stopping:
            callbacks.append(EarlyStopping(monitor=monitor, mode=mode, patience=config.early_stopping))
        if self.progress:
            callbacks.append(RichProgressBar(leave=True))
        log_root = self.dir / "logs"
        csv_logger = CSVLogger(log_root, name=name, version="")
        ckpt_path = ckpt_dir / "last.ckpt"
        resuming = self.resume and ckpt_path.exists()
        if resuming:
            keep_earlier_rows(csv_logger, ckpt_path)
        loggers: list[Any] = [csv_logger, TensorBoardLogger(log_root, name="tensorboard", version=name)]
        if os.environ.get("MLFLOW_TRACKING_URI"):  # MLflow only where the user points zoo at a tracking server/store
            from lightning.pytorch.loggers import MLFlowLogger

            loggers.append(MLFlowLogger(experiment_name=f"zoo-{self.spec.name}", tracking_uri=os.environ["MLFLOW_TRACKING_URI"],
                                        run_name=f"{self.dir.name}-{name}"))

        resume_hint = f"continue it with `zoo train {self.spec.name} --resume {self.dir}`."
        kwargs: dict[str, Any] = dict(
            max_epochs=epochs or config.epochs,
            plugins=[RunDirCheckpointIO(resume_hint.rstrip("."))],
            accelerator="gpu" if config.accelerator == "cuda" else config.accelerator,
            devices=resolve_devices(config.devices),
            strategy=config.strategy,
            num_nodes=config.num_nodes,
            precision=resolve_precision(config),
            # manual optimisation (GANs) clips in the module itself: Lightning refuses gradient_clip_val there
            gradient_clip_val=(config.grad_clip or None) if module.automatic_optimization else None,
            callbacks=callbacks,
            logger=loggers,
            default_root_dir=stage_dir,
            deterministic=True if not torch.cuda.is_available() else "warn",
            use_distributed_sampler=False,  # models shard their own batches by rank (see epoch_batches)
            enable_progress_bar=self.progress,
            enable_model_summary=False,
            log_every_n_steps=10,
            num_sanity_val_steps=0,
        )
        overrides = dict(self.trainer_overrides)
        callbacks += overrides.pop("callbacks", [])  # extra callbacks (e.g. zoo tune's pruning) join the run's own
        kwargs.update(overrides)
        trainer = L.Trainer(**kwargs)
        if not resuming:
            initial_weights(self.spec, module.model)
        try:
            trainer.fit(module, ckpt_path=str(ckpt_path) if resuming else None)
        except SystemExit:  # Lightning turns SIGTERM into SystemExit(None) = exit 0, and Ctrl-C into exit 1
            if trainer.received_sigterm:
                raise ZooError(f"training was stopped by SIGTERM; {resume_hint}", exit_code=143) from None
            if trainer.interrupted:
                raise ZooError(f"training was interrupted; {resume_hint}", exit_code=130) from None
            raise
        if getattr(module, "parameter_summary", None):
            self.parameter_summaries[name] = dict(module.parameter_summary)
        if trainer.interrupted:
            raise ZooError(f"training was interrupted; {resume_hint}", exit_code=130)

        best_path = best.best_model_path or (str(ckpt_path) if ckpt_path.exists() else "")
        if best_path and trainer.is_global_zero:  # only rank 0 writes the run's artifacts
            state = load_checkpoint(Path(best_path))["state_dict"]
            module.load_state_dict(state)
        model = module.model.cpu().eval()
        if name != "main" and trainer.is_global_zero:
            from zoo.artifacts import save_weights

            save_weights(model, done_marker)
        return model


def keep_earlier_rows(logger: CSVLogger, checkpoint: Path) -> None:
    """On --resume, keep the rows of metrics.csv logged before ``checkpoint`` (Lightning's CSV writer deletes
    the file when it starts); rows logged after it are dropped, as the resumed run logs those steps again."""
    import csv

    path = Path(logger.log_dir) / "metrics.csv"
    if not path.is_file():
        return
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows, header = list(reader), list(reader.fieldnames or [])
    step = int(load_checkpoint(checkpoint).get("global_step", 0))
    kept = [row for row in rows if str(row.get("step", "")).isdigit() and int(row["step"]) < step]
    writer = logger.experiment  # creating Lightning's writer removes the old file
    writer.metrics_keys = sorted(header)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.DictWriter(handle, fieldnames=writer.metrics_keys)
        out.writeheader()
        out.writerows(kept)


def train(spec: ZooModel, run_dir: Path, *, resume: bool = False, command: str = "",
          trainer_overrides: dict[str, Any] | None = None, progress: bool = True, overwrite: bool = False) -> dict[str, Any]:
    """Train ``spec`` into ``run_dir`` and write the run's artifacts. Returns the metrics (rank 0)."""
    from zoo import artifacts

    L.seed_everything(spec.config.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    run = Run(run_dir, spec, resume=resume, trainer_overrides=trainer_overrides or {}, progress=progress)
    spec.data  # noqa: B018  load and validate the data first: bad data writes nothing, and data-derived config fields get filled
    check_hardware(spec.config)
    expected_shapes(spec)  # an invalid or oversized network is refused before anything is allocated or written
    if spec.config.init_from:
        _check_init_source(spec)  # a missing or foreign --init-from is refused before anything is written
    spec.check_sources()  # e.g. a --teacher of other classes or input: refused before anything is written
    if is_global_zero():
        run_dir = claim_run_dir(run_dir, resume=resume, overwrite=overwrite)
        run.dir = run_dir
        artifacts.write_config(run_dir, spec, command=command)
    started = time.perf_counter()
    previous = os.environ.get(RUN_DIR_ENV)
    os.environ[RUN_DIR_ENV] = str(run_dir)  # for the DDP children Lightning spawns during fit, and only then
    try:
        model = spec.fit(run)
    finally:
        if previous is None:
            os.environ.pop(RUN_DIR_ENV, None)
        else:
            os.environ[RUN_DIR_ENV] = previous
    train_seconds = time.perf_counter() - started
    if not is_global_zero():
        return {}
    return artifacts.finish_run(run_dir, spec, model, train_seconds=train_seconds, command=command,
                                stages=run.stage_names, parameter_summaries=run.parameter_summaries)


def check_hardware(config: Any) -> None:
    """An accelerator this machine does not have is a one-line error before the run starts."""
    wanted = config.accelerator
    if wanted in ("gpu", "cuda") and not torch.cuda.is_available():
        raise ZooError(f"--accelerator {wanted} but this machine has no usable CUDA GPU (torch.cuda.is_available() "
                       "is False); use --accelerator auto or cpu, or install a CUDA build of torch.")
    if wanted == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ZooError("--accelerator mps but Apple's MPS backend is not available here; use --accelerator auto or cpu.")


def _check_init_source(spec: ZooModel) -> None:
    from zoo import artifacts

    spec.init_state(artifacts.load(spec.config.init_from))  # validates before training starts


def initial_weights(spec: ZooModel, model: nn.Module) -> nn.Module:
    """Load ``--init-from`` weights into a freshly built ``model`` (fine-tuning); shapes must match.

    Called by ``Run.fit_stage`` before a stage trains from scratch, never by ``build_model``: loading a
    finished fine-tuned artifact must not need its base model."""
    if not spec.config.init_from:
        return model
    from zoo import artifacts

    state = spec.init_state(artifacts.load(spec.config.init_from))
    own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        raise ZooError(f"--init-from weights do not fit this config ({mismatched[0]}: {tuple(state[mismatched[0]].shape)} "
                       f"vs {tuple(own[mismatched[0]].shape)}); use the same architecture options as the source run.")
    model.load_state_dict(state, strict=False)
    return model
