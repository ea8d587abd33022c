"""The model registry: every model is described twice, cheaply and fully.

* A :class:`ModelCard` (torch-free): name, task kind, paper, default data, primary metric, static
  parameter count, presets, the tiny config tests use, and where its config class and its
  implementation live. ``zoo list``, ``zoo info`` and ``zoo train MODEL --help`` read only cards and
  config classes, so they import no torch, Lightning, onnx or keras.
* A :class:`ZooModel` subclass (imported on demand): the network, data, training and evaluation.
  Most models inherit it from a task base class in :mod:`zoo.tasks`, so a new model of an existing
  kind is a config plus a network.

Adding a model = a package ``zoo/models/<name>/`` whose ``__init__.py`` defines ``CARD`` (and imports
nothing heavy), a ``config.py`` with its pydantic config, a module with the ``@register``-ed
implementation, plus one line in ``zoo.models.BUILTIN`` (or a ``zoo.models`` entry point naming the
package of another distribution).
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

OutputMeaning = Literal["probability", "logits", "probabilities", "value", "embedding", "image"]
TaskKind = Literal["image-classification", "pair-similarity", "tabular-classification", "sequence", "pretext", "generative"]


@dataclass(frozen=True)
class ModelCard:
    """The torch-free description of one model: what ``zoo list``/``zoo info`` show and where the rest lives.

    ``config`` and ``impl`` are ``"module:attribute"`` paths; the config module must import no heavy
    library. ``parameters`` is the parameter count of the default config (a registry-wide test checks
    it against the built network). ``tiny`` holds config overrides small enough for the test suite.
    """

    name: str
    summary: str  # one line for `zoo list`
    task: str  # human-readable, e.g. "one-shot image similarity"
    kind: TaskKind
    paper: str
    config: str
    impl: str
    default_data: str
    primary_metric: str
    parameters: int
    inputs: str  # e.g. "left, right: 1x32x32 grey images"
    paper_url: str = ""
    pipeline_tag: str = "image-classification"
    tags: tuple[str, ...] = ()
    tiny: dict[str, Any] = field(default_factory=dict)
    presets: tuple[Any, ...] = ()  # zoo.presets.Preset entries (named configs, optionally with hf:// weights)

    def config_class(self) -> type[TrainConfig]:
        return _import_attr(self.config)

    def preset(self, name: str) -> Any:
        for preset in self.presets:
            if preset.name == name:
                return preset
        names = ", ".join(p.name for p in self.presets) or "none"
        raise ZooError(f"model '{self.name}' has no preset '{name}'; its presets: {names}.")


@dataclass(frozen=True)
class GraphSpec:
    """One graph an export writes: ``module`` is a dotted attribute path of the trained network
    ("" = the whole network); inputs/outputs name TensorSpecs of this graph."""

    name: str
    module: str = ""
    inputs: tuple[TensorSpec, ...] | None = None  # None: the model's inputs()
    outputs: tuple[TensorSpec, ...] | None = None  # None: the model's outputs()


@dataclass(frozen=True)
class ExportSpec:
    """What ``zoo export`` turns into graphs, and how parity is checked.

    Parity runs at every batch size of ``parity_batches`` and, for every other dynamic axis, at each
    size of ``axis_sizes[axis]`` (e.g. ``{"time": (1, 7, 64)}``; inputs are brought to that size by
    ``ZooModel.resize_axis``). ``graphs[0]`` is the model's main graph (file ``<model>.onnx``);
    further graphs are written as ``<model>.<graph>.onnx``.
    """

    graphs: tuple[GraphSpec, ...] = (GraphSpec("model"),)
    atol: float = 1e-4
    opset: int = 18
    parity_batches: tuple[int, ...] = (1, 7, 64)
    axis_sizes: dict[str, tuple[int, ...]] = field(default_factory=dict)


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

    card: ClassVar[ModelCard]  # name, paper, task ... are copied from it by @register
    Config: ClassVar[type[TrainConfig]]
    name: ClassVar[str]
    summary: ClassVar[str]
    task: ClassVar[str]
    paper: ClassVar[str]
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

    def export_spec(self) -> ExportSpec:
        """Which submodules become graphs, with which tolerance, opset and parity shapes."""
        return ExportSpec()

    def resize_axis(self, inputs: dict[str, np.ndarray], axis: str, size: int) -> dict[str, np.ndarray]:
        """``inputs`` with dynamic axis ``axis`` (e.g. ``"time"``) brought to ``size`` for the parity check
        at ``ExportSpec.axis_sizes``. Default: cropped, or repeated cyclically (token ids stay valid ids);
        override where a model needs e.g. padding."""
        import numpy as np

        resized = dict(inputs)
        for tensor in self.inputs():
            if axis in tensor.shape and tensor.name in inputs:
                i = tensor.shape.index(axis)
                value = inputs[tensor.name]
                resized[tensor.name] = np.take(value, np.arange(size) % value.shape[i], axis=i)
        return resized

    def backbone_weights(self, state: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """(backbone name, its weights in ``state``) when this model holds a zoo backbone, so another
        model can start from it (``--init-from``); None otherwise."""
        return None

    def init_state(self, source: Any) -> dict[str, Any]:
        """The weights ``--init-from`` loads from ``source`` (an Artifact). Default: a run of the same model."""
        if source.spec.name != self.name:
            raise ZooError(f"--init-from {self.config.init_from} holds a '{source.spec.name}' model, not '{self.name}'; "
                           "pick weights of the same model.")
        return source.state_dict()

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
            "kind": self.card.kind,
        }


_REGISTRY: dict[str, type[ZooModel]] = {}
CARD_FIELDS = ("name", "summary", "task", "paper", "paper_url", "default_data", "primary_metric", "pipeline_tag", "tags")


def register(cls: type[ZooModel]) -> type[ZooModel]:
    """Class decorator that adds a model to the registry; its card supplies name, paper, task, ..."""
    card_ = getattr(cls, "card", None)
    if not isinstance(card_, ModelCard):
        raise TypeError(f"{cls.__name__} must set `card = CARD` (a ModelCard) to be registered")
    for attr in CARD_FIELDS:
        setattr(cls, attr, getattr(card_, attr))
    if not hasattr(cls, "Config"):
        cls.Config = card_.config_class()
    _REGISTRY[card_.name] = cls
    return cls


def _import_attr(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def _module_index() -> dict[str, str]:
    from zoo.models import BUILTIN

    index = dict(BUILTIN)
    for ep in entry_points(group="zoo.models"):
        index.setdefault(ep.name, ep.value)
    return index


def names() -> list[str]:
    """Registered model names, without importing any model module."""
    return sorted(_module_index())


def card(name: str) -> ModelCard:
    """The torch-free card of model ``name`` (imports only its light package)."""
    index = _module_index()
    if name not in index:
        raise ZooError(f"unknown model '{name}'; choose one of: {', '.join(sorted(index))} (see `zoo list`).")
    found = getattr(importlib.import_module(index[name]), "CARD", None)
    if not isinstance(found, ModelCard) or found.name != name:
        raise ZooError(f"package {index[name]} has no CARD for a model named '{name}'; define CARD = ModelCard(name='{name}', ...).")
    return found


def config_class(name: str) -> type[TrainConfig]:
    """The typed config of model ``name`` (torch-free)."""
    return card(name).config_class()


def get(name: str) -> type[ZooModel]:
    """The ``ZooModel`` class registered as ``name`` (imports its implementation on first use)."""
    if name not in _REGISTRY:
        card_ = card(name)
        _import_attr(card_.impl)
        if name not in _REGISTRY:
            raise ZooError(f"{card_.impl} did not register a model named '{name}'; decorate its class with @register.")
    return _REGISTRY[name]


def create(name: str, config: TrainConfig | dict[str, Any] | None = None) -> ZooModel:
    """An instance of model ``name`` with ``config`` (a config object, a dict of fields, or defaults)."""
    cls = get(name)
    if isinstance(config, dict):
        from zoo.config import load_config

        config = load_config(cls.Config, overrides=config, source=f"the saved config of {name}")
    return cls(config)
