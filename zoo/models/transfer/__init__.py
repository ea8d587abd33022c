"""`transfer`: fine-tune any backbone of :mod:`zoo.backbones` with layer freezing (card only; torch-free)."""

from zoo.presets import Preset
from zoo.registry import ModelCard

CARD = ModelCard(
    name="transfer",
    summary="Transfer learning: a torchvision/timm/zoo backbone, new head, full fine-tuning, feature extraction, first-k or gradual unfreezing, discriminative LRs.",
    task="image classification by transfer learning",
    kind="image-classification",
    paper=("Yosinski, J., Clune, J., Bengio, Y., Lipson, H. (2014). How transferable are features in deep neural networks? "
           "NeurIPS 27; with the strategies of Sarkar et al., Hands-On Transfer Learning with Python (2018)."),
    paper_url="https://arxiv.org/abs/1411.1792",
    config="zoo.models.transfer.config:TransferConfig",
    impl="zoo.models.transfer.model:Transfer",
    default_data="digits",
    primary_metric="test/acc",
    parameters=11175370,
    inputs="image: 1x32x32 grey (digits) or RGB image",
    pipeline_tag="image-classification",
    tags=("transfer-learning", "fine-tuning", "layer-freezing", "resnet", "torchvision", "timm"),
    presets=(
        Preset("inception-v3-frozen", "The source's Keras example: frozen Inception v3 base, GAP, Dense 256, Dense 64, one sigmoid unit "
               "(541,057 trainable parameters); for two-class photo folders.",
               {"backbone": "inception_v3", "image_size": 150, "head": "mlp", "head_hidden": [256, 64], "dropout": 0.0,
                "binary_single_logit": True, "freeze": "all", "color": "RGB"}),
        Preset("resnet18-imagenet-first2", "ResNet-18 with ImageNet weights from the local cache, stem and layer1 frozen.",
               {"backbone": "resnet18", "pretrained": "imagenet", "image_size": 224, "freeze": "first-k", "freeze_stages": 2, "color": "RGB"}),
        Preset("lenet5-scratch", "LeNet-5 trained from scratch on grey 32x32 images (the offline transfer baseline).",
               {"backbone": "lenet5", "image_size": 32, "augment_flip": False}),
    ),
    tiny={"backbone": "lenet5", "epochs": 1, "batch_size": 32, "image_size": 32, "checkpoint_every": 0,
          "augment_flip": False},
)
