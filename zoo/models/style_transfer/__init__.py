"""`style-transfer`: Johnson et al.'s feed-forward stylizer trained with perceptual losses (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="style-transfer",
    summary=("Feed-forward style transfer: a transformation network (reflection-padded convolutions, residual blocks with "
             "instance norm, up-sampling) trained for one style with content, Gram-style and TV losses through a fixed loss network."),
    task="image-to-image style transfer",
    kind="generative",
    paper=("Johnson, J., Alahi, A., Fei-Fei, L. (2016). Perceptual losses for real-time style transfer and super-resolution. ECCV 2016; "
           "losses: Gatys, L. A., Ecker, A. S., Bethge, M. (2016). Image style transfer using convolutional neural networks. CVPR 2016; "
           "instance norm: Ulyanov, D., Vedaldi, A., Lempitsky, V. (2016). Instance normalization: the missing ingredient for fast stylization."),
    paper_url="https://arxiv.org/abs/1603.08155",
    config="zoo.models.style_transfer.config:StyleTransferConfig",
    impl="zoo.models.style_transfer.model:StyleTransfer",
    default_data="sample-photos",
    primary_metric="test/style_match",
    parameters=276675,
    inputs="image: 3xSxS RGB, pixel/255 (S = image_size, 64 by default)",
    pipeline_tag="image-to-image",
    tags=("style-transfer", "perceptual-loss", "instance-norm", "image-to-image", "generative"),
    tiny={"epochs": 1, "images": 8, "batch_size": 4, "image_size": 32, "width": 4, "res_blocks": 1,
          "loss_backbone": "lenet5", "checkpoint_every": 0},
)
