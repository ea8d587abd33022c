"""`context`: self-supervised pretraining by predicting the relative position of two patches (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="context",
    summary="Context prediction: a base patch and one of its 8 neighbours through one shared encoder, predict the neighbour's position; transfer the encoder.",
    task="self-supervised pretraining (relative patch position)",
    kind="image-classification",
    paper=("Doersch, C., Gupta, A., Efros, A. A. (2015). Unsupervised visual representation learning by context prediction. "
           "ICCV 2015."),
    paper_url="https://arxiv.org/abs/1505.05192",
    config="zoo.models.context.config:ContextConfig",
    impl="zoo.models.context.model:Context",
    default_data="digits",
    primary_metric="test/pretext_acc",
    parameters=82572,
    inputs="image: base patch (left half) and neighbour patch (right half) side by side, 1x32x64 grey or RGB",
    pipeline_tag="image-classification",
    tags=("self-supervised", "pretext-task", "context-prediction", "relative-position", "transfer-learning"),
    tiny={"backbone": "lenet5", "epochs": 1, "batch_size": 64, "checkpoint_every": 0},
)
