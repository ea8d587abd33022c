"""Typed model configs. Every field is a ``zoo train MODEL`` option and a key of ``--config file.yaml``."""

from __future__ import annotations

import math
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from zoo.errors import ZooError


# Field groups (``json_schema_extra``): the config splits into the architecture and the recipe/data
# (portable: config.json, the Hub) and the trainer/hardware settings and local paths of one machine
# (run.yaml in the run directory only). DERIVED fields are filled from the data, not set by users.
HARDWARE = {"group": "hardware"}
LOCAL_PATH = {"group": "local"}
DERIVED = {"group": "derived"}


# A layer width (channels, hidden units, embedding size): at least 1, at most MAX_WIDTH. Model configs use
# it for every width, so `--channels 0,5`, `-1` or `100000` is a one-line config error, not a torch one.
MAX_WIDTH = 65536
Width = Annotated[int, Field(ge=1, le=MAX_WIDTH)]


def field_group(config_cls: type[BaseModel], name: str) -> str:
    """"architecture/recipe", "hardware", "local" or "derived" for field ``name``."""
    extra = config_cls.model_fields[name].json_schema_extra
    return extra.get("group", "architecture/recipe") if isinstance(extra, dict) else "architecture/recipe"


class TrainConfig(BaseModel):
    """Options every zoo model shares: data, optimisation, engine, reproducibility."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=())

    data: str = Field("", description="Data set name (see `zoo data`), or imagefolder:PATH / a CSV path where the model takes one. Empty: the model's default.")
    data_dir: Path | None = Field(None, description="Where downloadable data sets live (or are downloaded to).", json_schema_extra=LOCAL_PATH)
    epochs: int = Field(10, ge=1, description="Training epochs.")
    batch_size: int = Field(64, ge=1, description="Mini-batch size (per process).")
    lr: float = Field(1e-3, gt=0, le=10, allow_inf_nan=False, description="Peak learning rate.")
    weight_decay: float = Field(1e-4, ge=0, le=10, allow_inf_nan=False, description="AdamW weight decay.")
    scheduler: Literal["cosine", "plateau", "none"] = Field("cosine", description="Learning-rate schedule.")
    grad_clip: float = Field(1.0, ge=0, allow_inf_nan=False, description="Gradient-norm clipping (0 disables).")
    early_stopping: int = Field(0, ge=0, description="Stop after this many epochs without validation improvement (0 disables).")
    precision: Literal["auto", "32", "16-mixed", "bf16-mixed"] = Field("auto", description="auto: 16-mixed on CUDA, 32 on CPU.", json_schema_extra=HARDWARE)
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed for weights, splits, sampling and augmentation (runs are deterministic).")
    accelerator: Literal["auto", "cpu", "gpu", "cuda", "mps"] = Field("auto", description="Lightning accelerator.", json_schema_extra=HARDWARE)
    devices: str = Field("auto", pattern=r"^(auto|-1|\d{1,3}|\d{1,3}(,\d{1,3})*,?)$", description="Devices per node: 'auto', a count, or a list like '0,1'.", json_schema_extra=HARDWARE)
    strategy: str = Field("auto", pattern=r"^(auto|ddp|ddp_spawn|ddp_notebook|ddp_find_unused_parameters_true|fsdp|deepspeed(_stage_[123](_offload)?)?|single_device|dp)$", description="Lightning strategy: auto, ddp, fsdp, ... (multi-node: launch with torchrun).", json_schema_extra=HARDWARE)
    num_nodes: int = Field(1, ge=1, description="Nodes for multi-node training (with torchrun).", json_schema_extra=HARDWARE)
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.", json_schema_extra=HARDWARE)
    checkpoint_every: int = Field(50, ge=0, description="Also save a resumable checkpoint every N optimiser steps (0: only at epoch ends).")
    init_from: str | None = Field(None, description="Start from these weights: a run directory, a model.safetensors, hf://OWNER/NAME[@REV] or pretrained:MODEL[:PRESET] (published weights, sha256-verified).")

    @field_validator("*", mode="before")
    @classmethod
    def _finite_numbers_and_no_bool_counts(cls, value: Any, info: ValidationInfo) -> Any:
        """Every model's fields: no inf/NaN in a number, no YAML ``true`` taken as the count 1."""
        annotation, _ = field_kind(cls.model_fields[info.field_name].annotation)
        if annotation is int and isinstance(value, bool):
            raise ValueError("expected a whole number, not true/false")
        if annotation is float and not isinstance(value, bool):
            try:
                number = float(value)
            except (TypeError, ValueError):
                return value
            if not math.isfinite(number):
                raise ValueError("must be a finite number")
        return value

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def portable_dict(self) -> dict[str, Any]:
        """The fields that describe the model and its recipe: no hardware settings, no local paths
        (a local ``data`` path or ``init_from`` file is replaced by its kind). What config.json holds."""
        out: dict[str, Any] = {}
        for name, value in self.to_dict().items():
            if field_group(type(self), name) in ("hardware", "local"):
                continue
            if name == "data" and isinstance(value, str) and is_local_data(value):
                value = value.split(":", 1)[0] if ":" in value else "txt" if value.lower().endswith(".txt") else "csv"
            if name == "init_from" and isinstance(value, str) and not value.startswith(("hf://", "pretrained:")):
                value = None
            out[name] = value
        return out

    def local_dict(self) -> dict[str, Any]:
        """What ``portable_dict`` leaves out: this machine's settings and paths (run.yaml)."""
        portable = self.portable_dict()
        return {k: v for k, v in self.to_dict().items() if k not in portable or portable[k] != v}


LOCAL = "<local>"


def portable_command(command: str) -> str:
    """``command`` with this machine's absolute paths cut to ``<local>/NAME``: what config.json, metrics.json
    and model cards record, so a pushed model does not publish the user's directory layout."""
    import os
    import shlex

    def cut(token: str) -> str:
        for sep in ("=", ":"):
            head, found, tail = token.partition(sep)
            if found and head and (tail.startswith(("/", "~"))):
                return head + sep + cut(tail)
        if token.startswith(("/", "~")):
            name = os.path.basename(token.rstrip("/"))
            return f"{LOCAL}/{name}" if name else LOCAL
        return token

    try:
        tokens = shlex.split(command)
    except ValueError:
        tokens = command.split()
    return " ".join(shlex.quote(cut(t)) if cut(t) != t else t for t in tokens) if tokens else command


def is_local_data(value: str) -> bool:
    """True for data given as a local path (``imagefolder:PATH``, a CSV or .txt file), not a named data set."""
    return value.startswith("imagefolder:") or value.lower().endswith((".csv", ".tsv", ".xls", ".xlsx", ".txt")) or "/" in value


def field_kind(annotation: Any) -> tuple[Any, bool]:
    """Strip ``Optional``: return (inner annotation, is_optional)."""
    origin = get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return annotation, False


def load_config(config_cls: type[TrainConfig], *, yaml_path: str | Path | None = None,
                overrides: dict[str, Any] | None = None, source: str = "options", model: str | None = None) -> TrainConfig:
    """Build a validated config from an optional YAML file, then CLI overrides on top. A ``model:`` key
    (saved configs carry one) must name ``model`` when that is given."""
    values: dict[str, Any] = {}
    if yaml_path is not None:
        values.update(read_yaml_mapping(yaml_path))
        source = str(yaml_path)
        named = values.get("model")
        if model is not None and named is not None and str(named) != model:
            raise ZooError(f"{yaml_path} is a config for model '{named}', not '{model}'; train it with "
                           f"`zoo train {named} --config {yaml_path}` or change its `model:` line.")
    values.update({k: v for k, v in (overrides or {}).items() if v is not None})
    values.pop("model", None)  # saved configs carry the model name; it is not a field
    values.pop("zoo_version", None)
    try:
        return config_cls(**values)
    except ValidationError as exc:
        raise ZooError(describe_validation_error(exc, source)) from None


def read_yaml_mapping(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ZooError(f"config file {path} does not exist; pass an existing YAML file to --config.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except UnicodeDecodeError:
        raise ZooError(f"config file {path} is not UTF-8 text; save it as UTF-8 YAML.") from None
    except RecursionError:
        raise ZooError(f"config file {path} nests too deeply; write a flat mapping of option: value.") from None
    except yaml.YAMLError as exc:
        raise ZooError(f"config file {path} is not valid YAML ({str(exc).splitlines()[0]}); fix its syntax.") from None
    if not isinstance(data, dict):
        raise ZooError(f"config file {path} must hold a mapping of option: value, not {type(data).__name__}.")
    return data


def describe_validation_error(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    field = loc[0] if loc else "config"
    entry = f" (entry {int(loc[1]) + 1})" if len(loc) > 1 and loc[1].isdigit() else ""
    got = err.get("input")
    if err["type"] == "extra_forbidden":
        return f"unknown config key '{field}' in {source}; remove it (see `zoo info MODEL` for the valid keys)."
    flag = "--" + field.replace("_", "-")
    return f"invalid value {got!r} for '{field}'{entry} in {source}: {err['msg']}; fix it (option {flag})."


def literal_choices(annotation: Any) -> list[str] | None:
    inner, _ = field_kind(annotation)
    if get_origin(inner) is Literal:
        return [str(a) for a in get_args(inner)]
    return None
