"""`nlnl`: negative learning for noisy labels (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="nlnl",
    summary="NLNL: negative learning with complementary labels, SelNL/SelPL and label cleaning for training on noisy labels.",
    task="image classification with noisy labels",
    kind="image-classification",
    paper=("Kim, Y., Yun, J., Shon, H., Kim, J. (2019). NLNL: Negative Learning for Noisy Labels. "
           "IEEE/CVF International Conference on Computer Vision (ICCV), 101-110."),
    paper_url="https://arxiv.org/abs/1908.07387",
    config="zoo.models.nlnl.config:NlnlConfig",
    impl="zoo.models.nlnl.model:Nlnl",
    default_data="digits",
    primary_metric="test/acc",
    parameters=72666,
    inputs="image: 1x16x16 grey image",
    pipeline_tag="image-classification",
    tags=("noisy-labels", "negative-learning", "complementary-labels", "label-cleaning"),
    tiny={"epochs": 1, "nl_epochs": 3, "selnl_epochs": 1, "selpl_epochs": 1, "width": 4, "image_size": 8, "batch_size": 128,
          "complementary_labels": 3, "lr": 5e-3, "checkpoint_every": 0},
)
