"""`mlp-heads`: one tabular MLP with the supervised-learning chapter's output heads (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="mlp-heads",
    summary=("Tabular MLP with a choice of output head: binary, multiclass, multilabel, ordinal, regression "
             "or multitask, each with its own loss, output activation and metrics."),
    task="tabular classification / regression",
    kind="tabular-classification",
    paper=("Goodfellow, I., Bengio, Y., Courville, A. (2016). Deep Learning, ch. 6.2.2 (output units and their "
           "losses); Cheng, J. (2007). A neural network approach to ordinal regression (cumulative targets)."),
    paper_url="https://www.deeplearningbook.org/contents/mlp.html",
    config="zoo.models.mlp_heads.config:MLPHeadsConfig",
    impl="zoo.models.mlp_heads.model:MLPHeads",
    default_data="iris",
    primary_metric="test/score",
    parameters=4675,
    inputs="features: numeric columns of the table (raw values; standardised inside the model)",
    pipeline_tag="tabular-classification",
    tags=("mlp", "tabular", "multilabel", "ordinal", "regression", "multitask"),
    tiny={"data": "iris", "epochs": 2, "batch_size": 16, "hidden": [8], "checkpoint_every": 3},
)
