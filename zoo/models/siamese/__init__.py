"""`siamese`: Koch et al.'s siamese network for one-shot image recognition (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="siamese",
    summary="Siamese conv net: weight-shared branches, L1 distance, sigmoid 'same class?' output; N-way one-shot classification.",
    task="one-shot image similarity",
    kind="pair-similarity",
    paper=("Koch, G., Zemel, R., Salakhutdinov, R. (2015). Siamese Neural Networks for One-shot Image Recognition. "
           "ICML Deep Learning Workshop."),
    paper_url="https://www.cs.cmu.edu/~rsalakhu/papers/oneshot1.pdf",
    config="zoo.models.siamese.config:SiameseConfig",
    impl="zoo.models.siamese.model:Siamese",
    default_data="omniglot-minimal",
    primary_metric="test/20way_acc",
    parameters=1234849,
    inputs="left, right: 1x32x32 grey images",
    pipeline_tag="image-classification",
    tags=("siamese", "one-shot", "omniglot", "few-shot"),
    presets=(
        Preset("koch-2015", "The paper's network: 105x105 inputs, 64-128-128-256 channels, 4096-unit embedding (GPU-sized).",
               {"image_size": 105, "channels": [64, 128, 128, 256], "embedding_dim": 4096, "batch_norm": False}),
    ),
    tiny={"epochs": 1, "steps_per_epoch": 6, "batch_size": 16, "image_size": 24, "channels": [8, 16],
          "embedding_dim": 32, "val_trials": 20, "eval_trials": 40, "checkpoint_every": 3},
)
