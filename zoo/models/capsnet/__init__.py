"""`capsnet`: capsules with dynamic routing by agreement (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="capsnet",
    summary="CapsNet: primary capsules, class capsules by 3 unrolled routing-by-agreement iterations, squash, margin loss, masked reconstruction decoder.",
    task="image classification with capsules",
    kind="image-classification",
    paper="Sabour, S., Frosst, N., Hinton, G. E. (2017). Dynamic routing between capsules. NeurIPS 30.",
    paper_url="https://arxiv.org/abs/1710.09829",
    config="zoo.models.capsnet.config:CapsNetConfig",
    impl="zoo.models.capsnet.model:CapsNet",
    default_data="digits",
    primary_metric="test/acc",
    parameters=8215568,
    inputs="image: 1x28x28 grey (digits upscaled, MNIST) or RGB image",
    pipeline_tag="image-classification",
    tags=("capsules", "capsnet", "dynamic-routing", "margin-loss", "reconstruction"),
    presets=(
        Preset("paper-mnist", "The paper's MNIST network: 256 9x9 channels, 32x6x6 8-D primary capsules, 16-D class capsules, "
               "decoder 512-1024-784 (data: mnist).",
               {"data": "mnist", "image_size": 28, "conv_channels": 256, "primary_types": 32, "primary_dim": 8, "class_dim": 16}),
        Preset("small-digits", "A CPU-sized CapsNet for scikit-learn's digits at 20x20: 64 channels, 8 primary types, decoder 256-512.",
               {"data": "digits", "image_size": 20, "conv_channels": 64, "primary_types": 8, "decoder_hidden": [256, 512]}),
    ),
    tiny={"image_size": 20, "conv_channels": 8, "primary_types": 4, "primary_dim": 4, "class_dim": 8,
          "decoder_hidden": [32], "epochs": 1, "batch_size": 64, "checkpoint_every": 0},
)
