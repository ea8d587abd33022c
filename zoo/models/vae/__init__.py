"""`vae`: convolutional variational autoencoder (card only; torch-free)."""

from zoo.registry import ModelCard

CARD = ModelCard(
    name="vae",
    summary="Convolutional VAE: encoder to a Gaussian latent code, reparameterised sample, Bernoulli decoder; KL + reconstruction with a beta weight.",
    task="image generation (variational autoencoder)",
    kind="generative",
    paper=("Kingma, D. P., Welling, M. (2014). Auto-encoding variational Bayes. ICLR 2014; beta weight: Higgins, I. et al. (2017). "
           "beta-VAE: learning basic visual concepts with a constrained variational framework. ICLR 2017."),
    paper_url="https://arxiv.org/abs/1312.6114",
    config="zoo.models.vae.config:VAEConfig",
    impl="zoo.models.vae.model:VAE",
    default_data="digits",
    primary_metric="test/recon_skill",
    parameters=73861,
    inputs="image: 1x16x16 grey, ink = 1; noise, latent: latent_dim values each",
    pipeline_tag="image-to-image",
    tags=("generative", "vae", "variational-autoencoder", "beta-vae", "latent-space"),
    tiny={"epochs": 1, "batch_size": 64, "image_size": 16, "width": 8, "checkpoint_every": 0, "grid": 4, "elbo_samples": 2},
)
