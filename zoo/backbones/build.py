"""Building backbones (torch): torchvision and timm architectures and the zoo-written LeNet-5 and ZFNet,
cut into ordered stages, with their weights (ImageNet from the local cache, or a local file) and a
1-channel input stem when the data is grey."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from zoo.backbones import BACKBONES, BackboneInfo
from zoo.errors import ZooError


@dataclass
class BackboneParts:
    """A backbone as ordered ``stages`` (stem first) and ``pool`` (-> flat features of size ``features``).

    ``top`` is the architecture's own classifier minus its last layer (hidden dense layers of AlexNet,
    VGG, MobileNetV3; empty for most), taking ``top_input`` (the stages' output, before ``pool``);
    ``top_features`` is what that top feeds its last layer."""

    stages: list[tuple[str, nn.Module]]
    pool: nn.Module
    features: int
    top: nn.Module
    top_features: int
    top_dropout: float = 0.0


def _global_pool() -> nn.Module:
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _chunks(modules: list[nn.Module], bounds: list[int]) -> list[nn.Module]:
    edges = [0, *bounds, len(modules)]
    return [nn.Sequential(*modules[a:b]) for a, b in zip(edges, edges[1:]) if b > a]


# -- torchvision ---------------------------------------------------------------------------------------

def _torchvision_parts(name: str, model: nn.Module) -> BackboneParts:
    if name.startswith("resnet"):
        stem = nn.Sequential(model.conv1, model.bn1, model.relu, model.maxpool)
        stages = [("stem", stem)] + [(f"layer{i}", getattr(model, f"layer{i}")) for i in range(1, 5)]
        return BackboneParts(stages, _global_pool(), model.fc.in_features, nn.Sequential(_global_pool()), model.fc.in_features)
    if name == "inception_v3":
        m = model
        groups = [("stem", [m.Conv2d_1a_3x3, m.Conv2d_2a_3x3, m.Conv2d_2b_3x3, m.maxpool1, m.Conv2d_3b_1x1, m.Conv2d_4a_3x3, m.maxpool2]),
                  ("mixed5", [m.Mixed_5b, m.Mixed_5c, m.Mixed_5d]),
                  ("mixed6", [m.Mixed_6a, m.Mixed_6b, m.Mixed_6c, m.Mixed_6d, m.Mixed_6e]),
                  ("mixed7", [m.Mixed_7a, m.Mixed_7b, m.Mixed_7c])]
        stages = [(n, nn.Sequential(*mods)) for n, mods in groups]
        return BackboneParts(stages, _global_pool(), 2048, nn.Sequential(_global_pool(), nn.Dropout(0.5)), 2048, 0.5)
    if name == "googlenet":
        m = model
        groups = [("stem", [m.conv1, m.maxpool1, m.conv2, m.conv3, m.maxpool2]),
                  ("inception3", [m.inception3a, m.inception3b, m.maxpool3]),
                  ("inception4", [m.inception4a, m.inception4b, m.inception4c, m.inception4d, m.inception4e, m.maxpool4]),
                  ("inception5", [m.inception5a, m.inception5b])]
        stages = [(n, nn.Sequential(*mods)) for n, mods in groups]
        return BackboneParts(stages, _global_pool(), 1024, nn.Sequential(_global_pool(), nn.Dropout(0.2)), 1024, 0.2)
    if name in ("alexnet", "vgg11", "vgg16"):
        feats = list(model.features)
        pools = [i + 1 for i, mod in enumerate(feats) if isinstance(mod, nn.MaxPool2d)][:-1]
        stages = [(f"block{i + 1}", s) for i, s in enumerate(_chunks(feats, pools))]
        channels = [mod.out_channels for mod in feats if isinstance(mod, nn.Conv2d)][-1]
        top = nn.Sequential(model.avgpool, nn.Flatten(), *list(model.classifier)[:-1])
        return BackboneParts(stages, _global_pool(), channels, top, model.classifier[-1].in_features)
    if name in ("mobilenet_v2", "efficientnet_b0", "mobilenet_v3_small"):
        feats = list(model.features)
        n = len(feats)
        bounds = sorted({1, n * 2 // 5, n * 3 // 5, n * 4 // 5})
        stages = [(f"features{i}", s) for i, s in enumerate(_chunks(feats, bounds))]
        last = model.classifier[-1]
        hidden = list(model.classifier)[:-1]
        top = nn.Sequential(_global_pool(), *hidden)
        out_ch = [mod for mod in model.features.modules() if isinstance(mod, nn.Conv2d)][-1].out_channels
        dropout = next((mod.p for mod in hidden if isinstance(mod, nn.Dropout)), 0.0)
        return BackboneParts(stages, _global_pool(), out_ch, top, last.in_features, dropout)
    if name == "squeezenet1_1":
        feats = list(model.features)
        pools = [i + 1 for i, mod in enumerate(feats) if isinstance(mod, nn.MaxPool2d)]
        stages = [(f"block{i + 1}", s) for i, s in enumerate(_chunks(feats, pools))]
        return BackboneParts(stages, _global_pool(), 512, nn.Sequential(_global_pool(), nn.Dropout(0.5)), 512, 0.5)
    raise ZooError(f"backbone '{name}' has no stage layout; pick one of: {', '.join(BACKBONES)}.")


def _torchvision_model(name: str) -> nn.Module:
    import torchvision

    kwargs: dict = {"weights": None}
    if name == "inception_v3":
        kwargs.update(aux_logits=False, init_weights=True, transform_input=False)
    if name == "googlenet":
        kwargs.update(aux_logits=False, init_weights=True, transform_input=False)
    return getattr(torchvision.models, name)(**kwargs)


def torchvision_weights_file(info: BackboneInfo) -> tuple[Path, str]:
    """(expected file in torch's hub cache, download URL) of a torchvision backbone's ImageNet weights."""
    import torchvision

    enum_name, member = info.weights.split(".")
    weights = getattr(torchvision.models, enum_name)[member]
    folder = Path(torch.hub.get_dir()) / "checkpoints"
    return folder / Path(weights.url).name, weights.url


def _read_weights_file(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from safetensors, or from an official torchvision ``.pth`` whose sha256 prefix
    (in its name) matches; the latter is read with ``weights_only=True`` (tensors only, no code)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as exc:  # noqa: BLE001  (any decode failure is the same user error)
            raise ZooError(f"weights file {path} is not valid safetensors ({exc}); replace it.") from None
    prefix = re.search(r"-([0-9a-f]{6,})\.", path.name)
    if prefix is None:
        raise ZooError(f"{path} is neither .safetensors nor an official torchvision file (NAME-<sha256 prefix>.pth); "
                       "convert it to safetensors.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if not digest.startswith(prefix.group(1)):
        raise ZooError(f"{path} does not match the sha256 prefix in its name ({prefix.group(1)}); it is corrupt or not the "
                       "official file: download it again.")
    return torch.load(path, map_location="cpu", weights_only=True)


def load_pretrained_state(name: str, pretrained: str) -> dict[str, torch.Tensor] | None:
    """The state dict ``pretrained`` names for backbone ``name`` ("none", "imagenet" or a file path)."""
    if pretrained == "none":
        return None
    info = BACKBONES.get(name) or BackboneInfo(name, "timm", 32, 224)
    if pretrained != "imagenet":
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise ZooError(f"--pretrained file {path} does not exist; pass none, imagenet or an existing .safetensors file.")
        return _read_weights_file(path)
    if info.family == "zoo":
        raise ZooError(f"backbone '{name}' is written here and has no ImageNet weights; use --pretrained none or a "
                       "zoo run's weights through --init-from.")
    if info.family == "timm":
        return _timm_cached_state(info)
    target, url = torchvision_weights_file(info)
    converted = target.with_suffix(".safetensors")
    for candidate in (converted, target):
        if candidate.is_file():
            return _read_weights_file(candidate)
    raise ZooError(f"ImageNet weights for {name} are not cached and cannot be downloaded here: place {target.name} "
                   f"(from {url}) or its safetensors conversion {converted.name} in {target.parent}.")


def _timm_cached_state(info: BackboneInfo) -> dict[str, torch.Tensor]:
    from huggingface_hub import constants, try_to_load_from_cache

    repo = info.weights.removeprefix("hf-hub:")
    found = try_to_load_from_cache(repo, "model.safetensors")
    if not isinstance(found, str):
        raise ZooError(f"timm weights {info.weights} are not in the Hugging Face cache and cannot be downloaded here: "
                       f"place model.safetensors of {repo} under {constants.HF_HUB_CACHE} (e.g. with `hf download {repo}` "
                       "on a machine with internet, then copy the cache folder).")
    return _read_weights_file(Path(found))


# -- timm ------------------------------------------------------------------------------------------------

def _timm_parts(name: str, in_channels: int) -> BackboneParts:
    try:
        import timm
    except ImportError:
        raise ZooError("timm backbones need the timm package; `pip install timm`.") from None
    arch = name.removeprefix("timm:")
    try:
        model = timm.create_model(arch, pretrained=False, num_classes=0, global_pool="", in_chans=in_channels)
    except RuntimeError as exc:
        raise ZooError(f"timm has no model '{arch}' ({exc}); see timm.list_models().") from None
    # one stage: timm architectures differ in layout; freezing acts on the whole network or nothing
    features = model.num_features
    return BackboneParts([("timm", _TimmFeatures(model))], _global_pool(), features, nn.Sequential(_global_pool()), features)


class _TimmFeatures(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


# -- written here ---------------------------------------------------------------------------------------

def _lenet5(in_channels: int) -> BackboneParts:
    """LeNet-5 (LeCun et al. 1998): C1 6@5x5, S2 avg-pool, C3 16@5x5, S4 avg-pool, C5 120@5x5; tanh."""
    stages = [("c1s2", nn.Sequential(nn.Conv2d(in_channels, 6, 5), nn.Tanh(), nn.AvgPool2d(2))),
              ("c3s4", nn.Sequential(nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2))),
              ("c5", nn.Sequential(nn.Conv2d(16, 120, 5), nn.Tanh()))]
    top = nn.Sequential(_global_pool(), nn.Linear(120, 84), nn.Tanh())
    return BackboneParts(stages, _global_pool(), 120, top, 84)


def _zfnet(in_channels: int) -> BackboneParts:
    """ZFNet (Zeiler & Fergus 2014): 96@7x7/2, 256@5x5/2, 384, 384, 256 @3x3, max-pools; BatchNorm stands
    in for the paper's local contrast normalisation (exportable everywhere, same role)."""
    def conv(cin: int, cout: int, k: int, s: int, p: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, k, s, p), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    stages = [("conv1", nn.Sequential(*conv(in_channels, 96, 7, 2, 1), nn.MaxPool2d(3, 2, 1))),
              ("conv2", nn.Sequential(*conv(96, 256, 5, 2, 0), nn.MaxPool2d(3, 2, 1))),
              ("conv3-5", nn.Sequential(*conv(256, 384, 3, 1, 1), *conv(384, 384, 3, 1, 1), *conv(384, 256, 3, 1, 1)))]
    top = nn.Sequential(_global_pool(), nn.Linear(256, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5),
                        nn.Linear(4096, 4096), nn.ReLU(inplace=True), nn.Dropout(0.5))
    return BackboneParts(stages, _global_pool(), 256, top, 4096, 0.5)


# -- the entry point -------------------------------------------------------------------------------------

def adapt_input_channels(module: nn.Module, in_channels: int) -> None:
    """Give the first convolution ``in_channels`` inputs; for 1 channel its RGB kernels are summed, so
    a grey image gives the response an RGB image of the same grey would (what timm does)."""
    for parent in module.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.Conv2d):
                if child.in_channels == in_channels:
                    return
                new = nn.Conv2d(in_channels, child.out_channels, child.kernel_size, child.stride, child.padding,
                                child.dilation, child.groups, child.bias is not None)
                with torch.no_grad():
                    w = child.weight
                    new.weight.copy_(w.sum(1, keepdim=True) if in_channels == 1 else w.mean(1, keepdim=True).repeat(1, in_channels, 1, 1))
                    if child.bias is not None:
                        new.bias.copy_(child.bias)
                setattr(parent, child_name, new)
                return


def build_parts(name: str, *, in_channels: int = 3, pretrained: str = "none") -> BackboneParts:
    """The backbone ``name`` cut into stages, with ``pretrained`` weights, taking ``in_channels`` inputs."""
    if name == "lenet5":
        parts = _lenet5(3 if pretrained != "none" else in_channels)
        model: nn.Module = nn.ModuleDict({n: m for n, m in parts.stages})
    elif name == "zfnet":
        parts = _zfnet(3 if pretrained != "none" else in_channels)
        model = nn.ModuleDict({n: m for n, m in parts.stages})
    elif name.startswith("timm:"):
        parts = _timm_parts(name, 3)
        model = parts.stages[0][1]
    elif name in BACKBONES:
        model = _torchvision_model(name)
        parts = None  # type: ignore[assignment]
    else:
        raise ZooError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)} or timm:NAME.")
    state = load_pretrained_state(name, pretrained)
    target = model.model if name.startswith("timm:") else model  # type: ignore[union-attr]
    if state is not None:
        own = target.state_dict()
        usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
        if not usable:
            raise ZooError(f"the --pretrained weights hold no tensor of backbone '{name}' (first key: {next(iter(state), 'none')}); "
                           "pass weights of the same architecture.")
        target.load_state_dict(usable, strict=False)
    if parts is None:
        parts = _torchvision_parts(name, model)
    adapt_input_channels(parts.stages[0][1], in_channels)
    return parts
