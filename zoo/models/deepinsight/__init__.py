"""`deepinsight`: tabular rows as images for a CNN (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="deepinsight",
    summary="DeepInsight: tabular rows become images (t-SNE/kPCA feature layout, hull-aligned pixel grid) for a two-branch CNN.",
    task="tabular classification",
    kind="tabular-classification",
    paper=("Sharma, A., Vans, E., Shigemizu, D., Boroevich, K. A., Tsunoda, T. (2019). DeepInsight: A methodology "
           "to transform a non-image data to an image for convolution neural network architecture. "
           "Scientific Reports 9, 11399."),
    paper_url="https://doi.org/10.1038/s41598-019-47765-6",
    config="zoo.models.deepinsight.config:DeepInsightConfig",
    impl="zoo.models.deepinsight.model:DeepInsight",
    default_data="ringnorm",
    primary_metric="test/acc",
    parameters=20474,
    inputs="features: 20 numbers (ringnorm)",
    pipeline_tag="tabular-classification",
    tags=("deepinsight", "tabular", "cnn", "tsne", "kernel-pca"),
    tiny={"data": "iris", "epochs": 2, "batch_size": 16, "pixels": 8, "channels": [4, 8, 8], "dense": [16],
          "feature_extractor": "pca", "checkpoint_every": 3},
)
