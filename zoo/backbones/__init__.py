"""Backbones: one place that builds torchvision, timm and zoo-written architectures for transfer learning.

This module is torch-free (the catalog is read by `zoo info` and config validation); building lives
in :mod:`zoo.backbones.build`. Each backbone is cut into ordered *stages* (stem first), which is what
"freeze the first k stages" and gradual unfreezing act on, and ends in pooled features that a new
head classifies.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BackboneInfo:
    """What is known about a backbone without building it."""

    name: str
    family: str  # "torchvision", "timm" or "zoo"
    min_size: int  # smallest input side the architecture accepts
    default_size: int  # input side of its pretrained weights
    weights: str = ""  # torchvision weights enum name (``ResNet18_Weights.IMAGENET1K_V1``) or timm ``hf-hub:`` id
    paper: str = ""
    notes: str = ""
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    stage_names: tuple[str, ...] = field(default_factory=tuple)  # filled for documentation only


IMAGENET = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

BACKBONES: dict[str, BackboneInfo] = {b.name: b for b in [
    BackboneInfo("lenet5", "zoo", 32, 32, paper="LeCun et al. 1998, Gradient-based learning applied to document recognition",
                 notes="written here: two conv+pool stages (6, 16 maps), dense 120 and 84, tanh as in the paper", mean=(0.5,), std=(0.5,)),
    BackboneInfo("zfnet", "zoo", 64, 224, paper="Zeiler & Fergus 2014, Visualizing and understanding convolutional networks",
                 notes="written here: AlexNet with a 7x7 stride-2 first layer and 5x5 stride-2 second layer; widths scaled by --width-multiplier"),
    BackboneInfo("alexnet", "torchvision", 63, 224, "AlexNet_Weights.IMAGENET1K_V1", "Krizhevsky et al. 2012"),
    BackboneInfo("vgg11", "torchvision", 32, 224, "VGG11_Weights.IMAGENET1K_V1", "Simonyan & Zisserman 2015"),
    BackboneInfo("vgg16", "torchvision", 32, 224, "VGG16_Weights.IMAGENET1K_V1", "Simonyan & Zisserman 2015"),
    BackboneInfo("googlenet", "torchvision", 32, 224, "GoogLeNet_Weights.IMAGENET1K_V1", "Szegedy et al. 2015"),
    BackboneInfo("inception_v3", "torchvision", 75, 299, "Inception_V3_Weights.IMAGENET1K_V1", "Szegedy et al. 2016",
                 interpolation="bilinear"),
    BackboneInfo("resnet18", "torchvision", 32, 224, "ResNet18_Weights.IMAGENET1K_V1", "He et al. 2016"),
    BackboneInfo("resnet50", "torchvision", 32, 224, "ResNet50_Weights.IMAGENET1K_V2", "He et al. 2016"),
    BackboneInfo("mobilenet_v2", "torchvision", 32, 224, "MobileNet_V2_Weights.IMAGENET1K_V1", "Sandler et al. 2018"),
    BackboneInfo("mobilenet_v3_small", "torchvision", 32, 224, "MobileNet_V3_Small_Weights.IMAGENET1K_V1", "Howard et al. 2019"),
    BackboneInfo("efficientnet_b0", "torchvision", 32, 224, "EfficientNet_B0_Weights.IMAGENET1K_V1", "Tan & Le 2019",
                 interpolation="bicubic"),
    BackboneInfo("squeezenet1_1", "torchvision", 32, 224, "SqueezeNet1_1_Weights.IMAGENET1K_V1", "Iandola et al. 2016"),
    BackboneInfo("timm:resnet18", "timm", 32, 224, "hf-hub:timm/resnet18.a1_in1k", "He et al. 2016 (timm's A1 recipe)"),
]}


def info(name: str) -> BackboneInfo:
    from zoo.errors import ZooError

    if name not in BACKBONES:
        raise ZooError(f"unknown backbone '{name}'; choose one of: {', '.join(BACKBONES)}.")
    return BACKBONES[name]


def check_name(name: str) -> str:
    """``name`` if it is a catalog backbone or ``timm:NAME``; else ValueError (for config validators)."""
    if name not in BACKBONES and not (name.startswith("timm:") and len(name) > 5):
        raise ValueError(f"unknown backbone; choose one of {', '.join(BACKBONES)} or timm:NAME")
    return name


def check_size(name: str, image_size: int) -> None:
    """ValueError when ``image_size`` is below what backbone ``name`` accepts (for config validators)."""
    known = BACKBONES.get(name)
    if known is not None and image_size < known.min_size:
        raise ValueError(f"backbone {name} needs image_size >= {known.min_size}, got {image_size}")
