"""`vae`: the ELBO terms, the held-out metrics against their baselines, the pictures of a run, the demo's
model side (decode, generate, encode) and bad options."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from zoo import registry


@pytest.fixture(scope="module")
def spec():
    return registry.create("vae", registry.card("vae").tiny)


def test_kl_and_reconstruction_terms_match_torch_distributions(spec) -> None:
    from torch.distributions import Bernoulli, Normal, kl_divergence

    from zoo.models.vae.model import kl_to_prior, negative_elbo_terms

    torch.manual_seed(0)
    mean, log_var = torch.randn(5, 3), torch.randn(5, 3)
    expected = kl_divergence(Normal(mean, (0.5 * log_var).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(kl_to_prior(mean, log_var), expected)

    model = spec.build_model().eval()
    x, noise = spec.split_images("test")[:4], torch.randn(4, spec.config.latent_dim)
    recon, kl = negative_elbo_terms(model, x, noise)
    m, lv = model.encoder(x)
    probs = model.decoder(m + (0.5 * lv).exp() * noise)
    # Bernoulli log-likelihood of [0, 1] pixels (continuous relaxation, as the training loss)
    manual = -(x * probs.log() + (1 - x) * (1 - probs).log()).flatten(1).sum(1)
    torch.testing.assert_close(recon, manual, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(kl, kl_to_prior(m, lv))


def test_metrics_put_a_perfect_and_a_mean_image_model_where_they_belong(spec) -> None:
    """A model returning the input scores skill 1; one returning the per-pixel mean image scores skill 0
    and exactly the baseline's cross-entropy; the ELBO subtracts the KL the encoder reports."""
    mean_image = spec.mean_image()

    def perfect(inputs):
        n = len(inputs["image"])
        return [inputs["image"], np.zeros((n, 2), np.float32), np.zeros((n, 2), np.float32), inputs["image"]]

    def baseline(inputs):
        n = len(inputs["image"])
        tiled = np.repeat(mean_image[None], n, axis=0)
        return [tiled, np.full((n, 2), 1.0, np.float32), np.zeros((n, 2), np.float32), tiled]

    top, flat = spec.evaluate(perfect), spec.evaluate(baseline)
    assert top["test/recon_skill"] == pytest.approx(1.0) and top["test/recon_mse"] == 0.0
    assert top["test/kl"] == 0.0 and top["test/elbo"] > -flat["test/nll_baseline"]
    assert flat["test/recon_skill"] == pytest.approx(0.0, abs=1e-6)
    assert flat["test/recon_nll"] == pytest.approx(flat["test/nll_baseline"])
    assert flat["test/kl"] == pytest.approx(1.0)  # mean 1, log-variance 0 in 2 dimensions: 2 * 0.5
    assert flat["test/elbo"] == pytest.approx(-flat["test/nll_baseline"] - 1.0)


def test_tiny_run_saves_latent_grid_samples_and_reconstructions(tiny_run) -> None:
    from PIL import Image

    run = tiny_run("vae")
    grid = registry.card("vae").tiny["grid"]
    for name in ("latent_grid.png", "samples.png", "reconstructions.png"):
        picture = Image.open(run / name)
        assert picture.mode == "L" and picture.width >= 16 * grid, name
    latent = np.asarray(Image.open(run / "latent_grid.png"), dtype=np.float32)
    assert latent.std() > 5, "the latent grid shows decoded images, not a blank sheet"


def test_demo_decodes_generates_and_encodes_like_the_network(tiny_run, tmp_path: Path) -> None:
    from demos.generator import Generator
    from demos.inputs import InputError, image_to_array, load_image
    from demos.prepare import demo_model, prepare

    run = tiny_run("vae")
    prepared = prepare(str(run), expected="vae", backend="torch", examples_dir=tmp_path, log=lambda *_: None)
    generator = Generator(demo_model(prepared))
    model = prepared.source.artifact.model
    assert generator.sliders == 2 and generator.encoding

    picture = np.asarray(generator.decode(1.0, -0.5), dtype=np.float32)
    with torch.no_grad():
        direct = model.decoder(torch.tensor([[1.0, -0.5]]))[0, 0].numpy()
    np.testing.assert_allclose(picture, np.rint(255 * (1 - direct)), atol=1)  # dark ink on white paper

    image, point = generator.generate(7)
    again, same = generator.generate(7)
    assert point == same and np.array_equal(np.asarray(image), np.asarray(again)) and len(point) == 2
    assert generator.generate(8)[1] != point

    example = prepared.examples["images"][0]
    code, reconstruction = generator.encode(example)
    x = image_to_array(load_image(example), prepared.document["preprocessing"])
    with torch.no_grad():
        mean, _ = model.encoder(torch.from_numpy(x[None]))
    np.testing.assert_allclose(code, mean[0].numpy(), atol=1e-5)
    assert reconstruction.size == (16, 16)
    with pytest.raises(InputError, match="seed"):
        generator.generate(-1)
    with pytest.raises(InputError, match="latent: 3 values"):
        generator.decode(0.0, 0.0, 0.0)


def test_bad_image_size_is_a_one_line_error(capsys) -> None:
    from cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["train", "vae", "--image-size", "18", "--epochs", "1"])
    err = capsys.readouterr().err
    assert exit_info.value.code != 0 and "multiple of 4" in err and len(err.strip().splitlines()) == 1
