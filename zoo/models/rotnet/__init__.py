"""`rotnet`: self-supervised pretraining by predicting image rotations (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="rotnet",
    summary="RotNet: rotate each unlabelled image by one angle of a rotation set, predict which; transfer the encoder.",
    task="self-supervised pretraining (rotation prediction)",
    kind="image-classification",
    paper=("Gidaris, S., Singh, P., Komodakis, N. (2018). Unsupervised representation learning by predicting image "
           "rotations. ICLR 2018."),
    paper_url="https://arxiv.org/abs/1803.07728",
    config="zoo.models.rotnet.config:RotNetConfig",
    impl="zoo.models.rotnet.model:RotNet",
    default_data="digits",
    primary_metric="test/pretext_acc",
    parameters=51176,
    inputs="image: 1x32x32 grey (digits) or RGB image, already rotated",
    pipeline_tag="image-classification",
    tags=("self-supervised", "pretext-task", "rotation", "rotnet", "transfer-learning"),
    tiny={"backbone": "lenet5", "epochs": 1, "batch_size": 64, "image_size": 32, "checkpoint_every": 0},
)
