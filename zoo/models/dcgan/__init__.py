"""`dcgan`: deep convolutional GAN (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="dcgan",
    summary="DCGAN: transposed-convolution generator and strided-convolution discriminator (BatchNorm, LeakyReLU), trained adversarially; exports the generator.",
    task="image generation (generative adversarial network)",
    kind="generative",
    paper=("Radford, A., Metz, L., Chintala, S. (2016). Unsupervised representation learning with deep convolutional generative "
           "adversarial networks. ICLR 2016; GANs: Goodfellow, I. et al. (2014). Generative adversarial nets. NeurIPS 27."),
    paper_url="https://arxiv.org/abs/1511.06434",
    config="zoo.models.dcgan.config:DCGANConfig",
    impl="zoo.models.dcgan.model:DCGAN",
    default_data="digits",
    primary_metric="test/fd_skill",
    parameters=100706,
    inputs="latent: latent_dim values drawn from N(0, I)",
    pipeline_tag="unconditional-image-generation",
    tags=("generative", "gan", "dcgan", "adversarial", "image-generation"),
    tiny={"epochs": 1, "batch_size": 64, "image_size": 16, "width": 8, "latent_dim": 8, "checkpoint_every": 0, "grid": 4,
          "scorer_epochs": 2},
)
