"""The model registry: a model is described once, as a ``ZooModel`` subclass, and every command reads it.

Adding a model = one module under ``zoo/models/`` that defines a ``@register``-ed ``ZooModel``
subclass, plus its name in ``zoo.models.BUILTIN`` (or a ``zoo.models`` entry point in another
package). Modules are imported only when their model is asked for, so ``zoo --help`` stays fast.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import cached_property
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from zoo.config import TrainConfig
from zoo.errors import ZooError

if TYPE_CHECKING:  # heavy imports only for type checkers
    import lightning as L
    import numpy as np
    from torch import nn

    from zoo.engine import Run

# A runtime-agnostic forward pass: named numpy inputs -> list of numpy outputs (in output-spec order).
# Evaluation code takes one of these, so the same metric runs on PyTorch, onnxruntime or Keras.
Predict = Callable[[dict[str, "np.ndarray"]], list["np.ndarray"]]

OutputMeaning = Literal["probability", "logits", "probabilities", "value", "embedding"]


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output. String entries in ``shape`` are dynamic axes (``"batch"``)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    description: str = ""
    meaning: OutputMeaning | None = None  # outputs only: how to read the values

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if isinstance(d, str) else d for d in self.shape)


@dataclass(frozen=True)
class Preprocessing:
    """What a consumer must do to raw data before it enters the exported model."""

    kind: Literal["image", "tabular", "none"]
    size: tuple[int, int] | None = None  # (height, width) to resize to
    color: Literal["L", "RGB"] | None = None
    scale: float = 1.0  # multiply raw values by this (1/255 for 8-bit images)
    invert: bool = False  # 1 - x after scaling (ink becomes 1)
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    layout: str = ""  # e.g. "NCHW"
    notes: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DemoHook:
    """How the Gradio demo presents a model. ``kind`` names a torch-free UI builder in ``demos/``
    (e.g. "image-pair", "image-classifier", "tabular"), so the same UI runs in a Hugging Face Space
    with only onnxruntime; a model that needs new components adds a builder there and names it here."""

    kind: str
    title: str = ""
    description: str = ""
    examples: list[Any] = field(default_factory=list)  # ready inputs shown under the UI (file paths or values)
    extra: dict[str, Any] = field(default_factory=dict)  # builder-specific options


class ZooModel(ABC):
    """Everything the zoo knows about one model. Subclass, fill the ClassVars, implement the methods."""

    name: ClassVar[str]
    Config: ClassVar[type[TrainConfig]]
    summary: ClassVar[str]  # one line for `zoo list`
    task: ClassVar[str]  # e.g. "one-shot similarity", "tabular classification"
    paper: ClassVar[str]  # full citation
    paper_url: ClassVar[str] = ""
    default_data: ClassVar[str]
    primary_metric: ClassVar[str]  # key of evaluate()'s result that headlines the model
    pipeline_tag: ClassVar[str] = "image-classification"  # Hugging Face Hub task tag
    tags: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: TrainConfig | None = None) -> None:
        self.config = config if config is not None else self.Config()
        if not isinstance(self.config, self.Config):
            raise TypeError(f"{self.name} needs a {self.Config.__name__}, got {type(self.config).__name__}")

    # -- the network -------------------------------------------------------------------------
    @abstractmethod
    def build_model(self) -> nn.Module:
        """A freshly initialised network whose forward takes ``inputs()`` in order and returns ``outputs()``."""

    @abstractmethod
    def inputs(self) -> list[TensorSpec]: ...

    @abstractmethod
    def outputs(self) -> list[TensorSpec]: ...

    def preprocessing(self) -> Preprocessing:
        return Preprocessing(kind="none")

    def labels(self) -> list[str] | None:
        """Class names for a classifier's output axis, when there are any."""
        return None

    # -- data, training, evaluation ------------------------------------------------------------
    @abstractmethod
    def load_data(self) -> Any:
        """Load (and split, seeded) the configured data set. Cached by ``data``."""

    @cached_property
    def data(self) -> Any:
        return self.load_data()

    @abstractmethod
    def training_module(self, model: nn.Module) -> L.LightningModule:
        """The LightningModule the engine fits (loss, optimiser, dataloaders, validation metric)."""

    def fit(self, run: Run) -> nn.Module:
        """Train and return the final network. Multi-stage models override this and call
        ``run.fit_stage`` once per stage; the default is a single Lightning fit."""
        return run.fit_stage(self.training_module(self.build_model()))

    @abstractmethod
    def evaluate(self, predict: Predict) -> dict[str, float]:
        """The paper's metrics on the held-out split, computed through ``predict`` (any runtime)."""

    @abstractmethod
    def example_inputs(self, n: int, split: str = "test") -> dict[str, np.ndarray]:
        """``n`` real, preprocessed inputs from the data set (for parity checks, benchmarks, demos)."""

    def eval_report(self, metrics: dict[str, float]) -> list[str]:
        """Extra lines (or rich tables) `zoo eval` prints after the metrics table (optional)."""
        return []

    def write_extras(self, run_dir: Path, model: nn.Module, metrics: dict[str, float]) -> None:
        """Model-specific pictures and files saved next to a finished run (optional)."""

    def demo(self) -> DemoHook | None:
        """The Gradio UI for this model (see ``demos``); None if the model has none yet."""
        return None

    def describe(self) -> dict[str, Any]:
        """Everything a consumer of an exported file needs, in JSON-able form."""
        return {
            "model": self.name,
            "task": self.task,
            "inputs": [asdict(t) for t in self.inputs()],
            "outputs": [asdict(t) for t in self.outputs()],
            "preprocessing": self.preprocessing().to_dict(),
            "labels": self.labels(),
            "primary_metric": self.primary_metric,
        }


_REGISTRY: dict[str, type[ZooModel]] = {}


def register(cls: type[ZooModel]) -> type[ZooModel]:
    """Class decorator that adds a model to the registry."""
    for attr in ("name", "Config", "summary", "task", "paper", "default_data", "primary_metric"):
        if not hasattr(cls, attr):
            raise TypeError(f"{cls.__name__} must define class attribute {attr!r} to be registered")
    _REGISTRY[cls.name] = cls
    return cls


def _module_index() -> dict[str, str]:
    from zoo.models import BUILTIN

    index = dict(BUILTIN)
    for ep in entry_points(group="zoo.models"):
        index.setdefault(ep.name, ep.value)
    return index


def names() -> list[str]:
    """Registered model names, without importing any model module."""
    return sorted(_module_index())


def get(name: str) -> type[ZooModel]:
    """The ``ZooModel`` class registered as ``name`` (imports its module on first use)."""
    if name not in _REGISTRY:
        index = _module_index()
        if name not in index:
            raise ZooError(f"unknown model '{name}'; choose one of: {', '.join(sorted(index))} (see `zoo list`).")
        importlib.import_module(index[name])
        if name not in _REGISTRY:
            raise ZooError(f"module {index[name]} did not register a model named '{name}'; decorate its class with @register.")
    return _REGISTRY[name]


def create(name: str, config: TrainConfig | dict[str, Any] | None = None) -> ZooModel:
    """An instance of model ``name`` with ``config`` (a config object, a dict of fields, or defaults)."""
    cls = get(name)
    if isinstance(config, dict):
        from zoo.config import load_config

        config = load_config(cls.Config, overrides=config, source=f"the saved config of {name}")
    return cls(config)
