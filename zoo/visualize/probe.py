"""A trained zoo image model seen from the inside: which inputs take the image, which layers produce feature
maps (named by module path), which output holds class scores, and forwards that record or stop at layers.

How models that are not "one image in, class scores out" are handled:

* several image inputs (a pair model such as ``siamese``): the image is fed to every image input (the pair
  (x, x)); a module called more than once (the shared branch) is recorded at its first call, i.e. the branch
  that sees the first image input. Other inputs (a VAE's ``noise``/``latent``) are fed zeros.
* outputs: Grad-CAM explains the first output whose meaning is ``logits``, ``probabilities`` or
  ``probability`` (one column: the pair's match score). A model with none (e.g. ``vae``) gets
  activations, filter patterns and dreams, and no Grad-CAM.
* a model that takes no image (``dcgan``'s latent, tabular or text models) is refused with one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from zoo.errors import ZooError

CLASS_MEANINGS = ("logits", "probabilities", "probability")


class _Stop(Exception):
    """Raised from a forward hook once every wanted layer has fired (the rest of the network is skipped)."""


@dataclass(frozen=True)
class Layer:
    """A module whose output is a feature map (N, C, H, W); ``shape`` is (C, H, W) at the model's input size."""

    name: str
    kind: str
    shape: tuple[int, int, int]
    flat_before: bool  # computed after the network first flattened (e.g. a decoder fed from a code)

    @property
    def channels(self) -> int:
        return self.shape[0]


class ImageProbe:
    """A model (eval mode, CPU, gradients off for weights) and its document, ready for visualisation."""

    def __init__(self, name: str, model: nn.Module, inputs: list[Any], outputs: list[Any],
                 preprocessing: dict[str, Any], labels: list[str] | None) -> None:
        self.name = name
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.inputs = inputs
        self.outputs = outputs
        self.preprocessing = preprocessing
        self.labels = labels
        image_inputs = [t for t in inputs if _is_image(t)]
        if preprocessing.get("kind") != "image" or not image_inputs:
            takes = ", ".join(f"{t.name} {tuple(t.shape)} {t.dtype}" for t in inputs)
            raise ZooError(f"{name} is not an image model (it takes {takes}); zoo explain/dream need a model whose input "
                           "is an image, e.g. transfer, rotnet, capsnet, siamese (see `zoo list`).")
        shapes = {tuple(t.shape[1:]) for t in image_inputs}
        if len(shapes) > 1:
            raise ZooError(f"{name} takes images of different shapes ({sorted(shapes)}); zoo explain/dream feed one image "
                           "to every image input and cannot visualise this model.")
        self.image_names = [t.name for t in image_inputs]
        self.image_shape: tuple[int, int, int] = tuple(int(d) for d in image_inputs[0].shape[1:])  # type: ignore[assignment]
        self.class_output = next((i for i, t in enumerate(outputs) if getattr(t, "meaning", None) in CLASS_MEANINGS), None)
        self._modules = dict(model.named_modules())
        self._layers: list[Layer] | None = None

    @classmethod
    def from_artifact(cls, artifact: Any) -> ImageProbe:
        spec = artifact.spec
        pre = spec.preprocessing()
        pre_dict = {k: (list(v) if isinstance(v, tuple) else v) for k, v in vars(pre).items()} if not isinstance(pre, dict) else pre
        try:
            labels = spec.labels()
        except Exception:  # noqa: BLE001 - labels are decoration; a model that needs its data for them has none here
            labels = None
        probe_inputs = spec.inputs()
        probe = cls(spec.name, nn.Identity(), probe_inputs, spec.outputs(), pre_dict, labels)  # refuse before loading weights
        return cls(spec.name, artifact.model, probe_inputs, probe.outputs, pre_dict, labels)

    # -- pixels <-> model inputs ----------------------------------------------------------------------
    @property
    def value_range(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(low, high) per channel, shaped (1, C, 1, 1): where pixel 0 and pixel 255 land after preprocessing."""
        c = self.image_shape[0]
        ends = []
        for pixel in (0.0, 1.0):
            v = np.full(c, pixel, dtype=np.float32)
            if self.preprocessing.get("invert"):
                v = 1.0 - v
            mean, std = self.preprocessing.get("mean") or (), self.preprocessing.get("std") or ()
            if mean:
                v = v - np.asarray(mean, dtype=np.float32)
            if std:
                v = v / np.asarray(std, dtype=np.float32)
            ends.append(v)
        low, high = np.minimum(*ends), np.maximum(*ends)
        return torch.tensor(low).view(1, c, 1, 1), torch.tensor(high).view(1, c, 1, 1)

    def load(self, path: str | Path, size: tuple[int, int] | None = None) -> torch.Tensor:
        """The image file at ``path`` as a (1, C, H, W) model input, resized to ``size`` (default: the model's)."""
        from demos.inputs import InputError, image_to_array, load_image

        try:
            image = load_image(str(path), "IMAGE")
        except InputError as exc:
            raise ZooError(str(exc)) from None
        pre = dict(self.preprocessing)
        pre["size"] = list(size) if size else pre.get("size")
        return torch.from_numpy(image_to_array(image, pre))[None]

    def picture(self, x: torch.Tensor) -> Any:
        """A (1, C, H, W) or (C, H, W) model input back to an 8-bit PIL image."""
        from demos.inputs import array_to_image

        x = x.detach()
        return array_to_image((x[0] if x.dim() == 4 else x).numpy(), self.preprocessing)

    def image_size(self, path: str | Path) -> tuple[int, int]:
        """(H, W) of the image file at ``path``."""
        from demos.inputs import InputError, load_image

        try:
            w, h = load_image(str(path), "IMAGE").size
        except InputError as exc:
            raise ZooError(str(exc)) from None
        return h, w

    def feeds(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Positional model inputs: ``x`` for every image input, zeros for the others."""
        n = x.shape[0]
        out = []
        for t in self.inputs:
            if t.name in self.image_names:
                out.append(x)
            else:
                shape = [n if d == "batch" else (1 if isinstance(d, str) else int(d)) for d in t.shape]
                dtype = torch.long if "int" in t.dtype else torch.float32
                out.append(torch.zeros(shape, dtype=dtype))
        return out

    # -- layers ---------------------------------------------------------------------------------------
    def layers(self) -> list[Layer]:
        """Every module whose output is a feature map of at least 1x1, in the order the forward computes them."""
        if self._layers is None:
            seen: dict[str, tuple[str, tuple[int, ...], bool]] = {}
            flat = [False]

            def hook(name: str) -> Callable[..., None]:
                def record(module: nn.Module, args: Any, output: Any) -> None:
                    if name in seen or not torch.is_tensor(output):
                        return
                    if output.dim() == 4 and output.is_floating_point():
                        seen[name] = (type(module).__name__, tuple(output.shape[1:]), flat[0])
                    elif output.dim() == 2 and name:
                        flat[0] = True
                return record

            x = torch.zeros((1, *self.image_shape))
            handles = [m.register_forward_hook(hook(n)) for n, m in self._modules.items() if n]
            try:
                with torch.no_grad():
                    self.model(*self.feeds(x))
            finally:
                for h in handles:
                    h.remove()
            self._layers = [Layer(n, kind, tuple(int(s) for s in shape), fb)  # type: ignore[arg-type]
                            for n, (kind, shape, fb) in seen.items()]
        return self._layers

    def layer(self, name: str) -> Layer:
        """The layer called ``name``; a name that is not a feature-map layer fails, listing the valid names."""
        found = next((layer for layer in self.layers() if layer.name == name), None)
        if found is None:
            valid = ", ".join(layer.name for layer in self.layers())
            what = "is not a module" if name not in self._modules else "does not output a feature map (N, C, H, W)"
            raise ZooError(f"layer '{name}' of {self.name} {what}; valid layers: {valid}.")
        return found

    def conv_layers(self) -> list[Layer]:
        """Convolution outputs computed from the image (before the network flattens), the natural picks."""
        picks = [layer for layer in self.layers() if not layer.flat_before and "Conv" in layer.kind]
        return picks or [layer for layer in self.layers() if not layer.flat_before]

    def default_layer(self) -> Layer:
        """The last feature map of at least 2x2 computed from the image before the network flattens
        (Grad-CAM's usual choice: the deepest map that still has a spatial layout)."""
        candidates = [layer for layer in self.layers() if not layer.flat_before and layer.shape[1] * layer.shape[2] > 1]
        if not candidates:
            raise ZooError(f"{self.name} has no feature map of 2x2 or more; pass --layer (valid: "
                           f"{', '.join(layer.name for layer in self.layers())}).")
        return candidates[-1]

    def spread(self, count: int) -> list[Layer]:
        """Up to ``count`` convolution layers with maps of 2x2 or more, spread from the first to the deepest."""
        convs = [layer for layer in self.conv_layers() if layer.shape[1] * layer.shape[2] > 1] or self.conv_layers()
        if len(convs) <= count:
            return convs
        idx = np.linspace(0, len(convs) - 1, count).round().astype(int)
        return [convs[i] for i in sorted(set(idx.tolist()))]

    def capture(self, x: torch.Tensor, names: list[str], *, full: bool = False) -> tuple[dict[str, torch.Tensor], Any]:
        """Forward ``x`` recording the first output of each layer in ``names`` (graph kept, for gradients).
        Stops as soon as all have fired unless ``full``; returns (activations, model outputs or None)."""
        wanted = set(names)
        got: dict[str, torch.Tensor] = {}

        def hook(name: str) -> Callable[..., None]:
            def record(module: nn.Module, args: Any, output: Any) -> None:
                if name not in got:
                    got[name] = output
                if not full and wanted <= set(got):
                    raise _Stop
            return record

        handles = [self._modules[n].register_forward_hook(hook(n)) for n in wanted]
        outputs = None
        try:
            outputs = self.model(*self.feeds(x))
        except _Stop:
            pass
        except RuntimeError as exc:
            size = "x".join(str(s) for s in x.shape[2:])
            raise ZooError(f"{self.name} cannot run on a {size} image up to layers {', '.join(sorted(wanted))} "
                           f"({str(exc).splitlines()[0][:160]}); use a larger image/--size or fewer octaves.") from None
        finally:
            for h in handles:
                h.remove()
        return got, outputs

    # -- classes --------------------------------------------------------------------------------------
    def class_index(self, wanted: str | None, scores: torch.Tensor) -> int:
        """``--class`` (a label or an index) -> column of the class output; None -> the predicted class."""
        width = scores.shape[1]
        if wanted is None:
            return int(scores[0].argmax()) if width > 1 else 0
        if self.labels and wanted in self.labels:
            return self.labels.index(wanted)
        if wanted.isdigit() and int(wanted) < max(width, 2 if width == 1 else width):
            return int(wanted) if width > 1 else 0
        names = ", ".join(self.labels) if self.labels else f"0..{width - 1}"
        raise ZooError(f"--class {wanted} is not a class of {self.name}; pass one of: {names}.")

    def class_name(self, index: int) -> str:
        if self.labels and index < len(self.labels):
            return str(self.labels[index])
        return str(index)

    def class_scores(self, outputs: Any) -> torch.Tensor:
        """The class output of a forward, as (N, k)."""
        if self.class_output is None:
            raise ZooError(f"{self.name} has no class output (its outputs: "
                           f"{', '.join(f'{t.name} ({t.meaning})' for t in self.outputs)}); Grad-CAM needs class scores.")
        out = outputs[self.class_output] if isinstance(outputs, (tuple, list)) else outputs
        return out.reshape(out.shape[0], -1)


def _is_image(t: Any) -> bool:
    return len(t.shape) == 4 and str(t.dtype).startswith("float") and all(isinstance(d, int) for d in t.shape[1:])
