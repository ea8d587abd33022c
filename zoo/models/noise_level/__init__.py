"""`noise-level`: self-supervised pretraining by classifying the level of added noise (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="noise-level",
    summary="Noise-level pretext task: add Gaussian noise of a random level to each unlabelled image, classify the level; transfer the encoder.",
    task="self-supervised pretraining (noise-level classification)",
    kind="image-classification",
    paper=("The simple pretext task of the 'pretraining strategies and transfer learning' case study; cf. Jing, L., Tian, Y. (2020). "
           "Self-supervised visual feature learning with deep neural networks: a survey. IEEE TPAMI."),
    paper_url="https://arxiv.org/abs/1902.06162",
    config="zoo.models.noise_level.config:NoiseLevelConfig",
    impl="zoo.models.noise_level.model:NoiseLevel",
    default_data="digits",
    primary_metric="test/pretext_acc",
    parameters=51176,
    inputs="image: 1x32x32 grey (digits) or RGB image, with noise added",
    pipeline_tag="image-classification",
    tags=("self-supervised", "pretext-task", "noise", "transfer-learning"),
    tiny={"backbone": "lenet5", "epochs": 1, "batch_size": 64, "image_size": 32, "checkpoint_every": 0},
)
