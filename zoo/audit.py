"""`zoo audit RUN`: how exposed is a transfer-learned model to the target-agnostic attack of Rezaei & Liu?

Rezaei, S., Liu, X. (2020). A target-agnostic attack on deep models: exploiting security
vulnerabilities of transfer learning. ICLR 2020. The attacker knows only the public pretrained
backbone the model was fine-tuned from, not its head nor its fine-tuning data. For each neuron of
the backbone's penultimate features it crafts, by gradient descent on the input, an image whose
feature vector is that neuron high and every other neuron zero; a head trained on top of those
features tends to answer such an input with one class at very high confidence. The crafted inputs
are then sent to the deployed model (its ONNX file on onnxruntime, as an attacker would query a
service) in an order the attacker cannot tune, and we count:

* effectiveness at 95% / 99%: the share of crafted inputs classified (into any class) with at least
  that confidence (the source's Tables 2-1/2-2);
* NABAC: the number of attempts (queries, in a seeded random neuron order) until every class has
  been hit with at least 95% confidence; "not reached" when some class never is;
* per class: how many crafted inputs land in it, how confidently, and the first attempt that does.

The backbone is rebuilt exactly as the run started: its ``--pretrained`` weights and/or the backbone
of its ``--init-from`` source (both recorded in the run's config), or ``--backbone-from``.
Writes ``audit.json`` and ``audit.png`` (original vs crafted inputs) into the run directory.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoo.errors import ZooError

REPORT_JSON = "audit.json"
PICTURE_PNG = "audit.png"
THRESHOLDS = (0.95, 0.99)


@dataclass
class AuditSettings:
    steps: int = 200  # gradient steps per crafted input
    lr: float = 0.05  # Adam step size on the (normalised) input
    boost: float = 10.0  # the target neuron's goal: boost x its largest |activation| on the clean test images
    start: str = "random"  # start images: "random" test images, or "top": per neuron the test image that activates it most
    neurons: int = 0  # craft for the first N neurons only (0: all)
    seed: int = 0
    backbone_from: str | None = None  # the attacker's backbone source, when the run's record no longer resolves
    onnx: str | None = None  # an existing export of the deployed model


@dataclass
class AuditReport:
    run: str
    backbone: str
    backbone_source: str
    freeze: str
    stages: int
    frozen_stages: int
    retrained_stages: int
    retrained_layers: int  # retrained stages + the head's linear layers (the source counts layers from the top)
    classes: list[str]
    neurons: int
    attempts: int
    effectiveness: dict[str, float]  # "95" / "99" -> share of crafted inputs at >= that confidence
    clean_confident: dict[str, float]  # the same share on the clean test images (for comparison)
    start_confident: dict[str, float]  # the same share on the start images the crafted inputs grew from (the attack's own baseline)
    nabac: int | None  # attempts until every class is hit at >= 95%; None: never
    classes_broken: int
    per_class: list[dict[str, Any]]
    features: dict[str, Any]  # how close the crafted features came to "target high, rest zero" (see feature_ratios)
    onnx: str
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_transfer_learned(art: Any, backbone_from: str | None = None) -> None:
    """A one-line ZooError unless ``art`` is a `transfer` run that started from known backbone weights.

    ``--pretrained`` is part of the portable config; ``--init-from`` is a local path kept in the run's
    run.yaml only, so a copy from the Hub needs ``backbone_from`` to name its starting backbone."""
    if art.name != "transfer":
        raise ZooError(f"{art.root} holds a '{art.name}' model, which is not transfer-learned; `zoo audit` needs a "
                       "`transfer` run fine-tuned from a public backbone (--pretrained or --init-from).")
    cfg = art.spec.config
    if cfg.pretrained == "none" and not cfg.init_from and not backbone_from:
        raise ZooError(f"{art.root} is a transfer run from random init (no --pretrained, no --init-from in its run.yaml): no public "
                       "backbone to attack from; audit a fine-tuned run, or name its start weights with --backbone-from SOURCE.")


def attacker_backbone(art: Any, backbone_from: str | None = None) -> tuple[Any, str]:
    """The network as it was before fine-tuning (what a public backbone gives the attacker) and where its
    weights came from. Only its ``features`` (stages + pool) are used, never its head."""
    from zoo import artifacts

    spec, cfg = art.spec, art.spec.config
    torch_model = spec.build_network(spec.num_classes(), spec.in_channels())
    source = backbone_from or cfg.init_from
    origin = f"--pretrained {cfg.pretrained}" if cfg.pretrained != "none" else ""
    if source:
        path = Path(str(source)).expanduser()
        if not str(source).startswith("hf://") and not path.exists():
            raise ZooError(f"the backbone this run started from ({source}) is gone; pass it with --backbone-from SOURCE "
                           "(a run directory, model.safetensors or hf://OWNER/NAME).")
        state = spec.init_state(artifacts.load(source))
        torch_model.load_state_dict(state, strict=False)
        origin = f"--init-from {source}"
    return torch_model.eval(), origin


def stage_counts(art: Any) -> tuple[int, int]:
    """(stages, frozen stages) of the run's backbone under its freezing strategy."""
    cfg = art.spec.config
    n = len(art.model.stages)
    frozen = {"none": 0, "all": n, "first-k": min(cfg.freeze_stages, n)}.get(cfg.freeze)
    if frozen is None:  # gradual: one more stage unfrozen every unfreeze_every epochs after the first
        frozen = max(0, n - (cfg.epochs - 1) // cfg.unfreeze_every)
    return n, frozen


def craft(features: Callable[[Any], Any], seeds: Any, neurons: list[int], low: Any, high: Any,
          settings: AuditSettings, progress: Callable[[int], None] | None = None, clean_range: Any = None) -> Any:
    """Inputs, one per neuron in ``neurons`` (starting from the matching row of ``seeds``), whose features are
    that neuron at ``boost`` x its clean range and every other neuron at zero (Adam on the input,
    kept inside the valid pixel range [low, high] per channel). ``clean_range``: each neuron's largest
    |activation| on clean images (default: on ``seeds``)."""
    import torch

    with torch.no_grad():
        scale = (features(seeds).abs().amax(0) if clean_range is None else clean_range).clamp_min(1e-3)
    index = torch.tensor(neurons)
    target = torch.zeros(len(neurons), len(scale))
    target[torch.arange(len(neurons)), index] = settings.boost
    x = seeds[torch.arange(len(neurons)) % len(seeds)].clone().requires_grad_(True)
    optimizer = torch.optim.Adam([x], lr=settings.lr)
    for step in range(settings.steps):
        optimizer.zero_grad()
        # in units of each neuron's clean range, so large-valued neurons do not dominate the "rest to zero" part
        loss = torch.nn.functional.mse_loss(features(x) / scale, target, reduction="sum") / len(neurons)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            x.copy_(torch.maximum(torch.minimum(x, high), low))
        if progress is not None:
            progress(step + 1)
    return x.detach()


def clean_features(features: Callable[[Any], Any], images: Any, chunk: int = 256) -> Any:
    """Backbone features of ``images`` (no gradient), in chunks."""
    import torch

    with torch.no_grad():
        return torch.cat([features(images[i:i + chunk]) for i in range(0, len(images), chunk)])


def start_images(clean: Any, images: Any, neurons: list[int], start: str, gen: np.random.Generator) -> Any:
    """One start image per neuron: random test images, or ("top") the test image whose features
    have that neuron highest (so a ReLU neuron that is zero on most inputs starts alive, with a gradient)."""
    import torch

    if start == "top":
        return images[clean[:, neurons].argmax(0)]
    if start != "random":
        raise ZooError(f"--start {start} is not a start rule; use random or top.")
    return images[torch.from_numpy(gen.permutation(len(images))[:len(neurons)])]


def feature_ratios(crafted_features: Any, neurons: list[int], clean: Any) -> dict[str, Any]:
    """Why the attack works or fails, on the attacker's backbone: per crafted input, target_over_rest = the
    target neuron / the largest |other| neuron, target_over_clean = the target neuron / its largest clean
    value (medians over the crafted inputs), the share whose target is their largest feature, and the
    share of neurons that are exactly zero on every clean test image (dead: no gradient from such a start)."""
    import torch

    f = crafted_features.detach()
    rows = torch.arange(len(neurons))
    index = torch.tensor(neurons)
    target = f[rows, index]
    rest = f.abs().clone()
    rest[rows, index] = 0
    clean_max = clean.abs().amax(0)
    over_rest = target / rest.amax(1).clamp_min(1e-12)
    over_clean = target / clean_max[index].clamp_min(1e-12)
    top2 = clean.abs().topk(2, dim=1).values
    return {"target_over_rest_median": float(over_rest.median()), "target_over_clean_median": float(over_clean.median()),
            "target_is_top_share": float((f.argmax(1) == index).float().mean()),
            "clean_top_over_second_median": float((top2[:, 0] / top2[:, 1].clamp_min(1e-12)).median()),
            "dead_neuron_share": float((clean_max == 0).float().mean()),
            "clean_zero_feature_share": float((clean == 0).float().mean())}


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def score(probabilities: np.ndarray, order: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Effectiveness, NABAC and the per-class table for crafted inputs queried in ``order``."""
    confidence, predicted = probabilities.max(1), probabilities.argmax(1)
    effectiveness = {f"{round(100 * t)}": float(np.mean(confidence >= t)) for t in THRESHOLDS}
    broken_at: dict[int, int] = {}
    for attempt, row in enumerate(order, start=1):
        if confidence[row] >= THRESHOLDS[0]:
            broken_at.setdefault(int(predicted[row]), attempt)
    nabac = max(broken_at.values()) if len(broken_at) == len(classes) else None
    per_class = []
    for c, name in enumerate(classes):
        hit = predicted == c
        per_class.append({"class": name, "crafted_inputs": int(hit.sum()),
                          "at_95": int((hit & (confidence >= 0.95)).sum()), "at_99": int((hit & (confidence >= 0.99)).sum()),
                          "first_attempt_95": broken_at.get(c)})
    return {"effectiveness": effectiveness, "nabac": nabac, "classes_broken": len(broken_at), "per_class": per_class}


def deployed_predictor(art: Any, onnx: str | None, log: Callable[[str], None]) -> tuple[Callable[..., Any], Path]:
    """onnxruntime on the run's ONNX export (written with `zoo export` first when there is none)."""
    from exporters.export import export, output_name
    from exporters.runtime import onnx_predictor

    path = Path(onnx) if onnx else art.root / output_name(art.name, "onnx")
    if not path.is_file():
        if onnx:
            raise ZooError(f"--onnx {onnx} does not exist; pass the deployed model's .onnx file or leave it out to export the run.")
        log(f"no ONNX export in {art.root}; exporting it first (zoo export {art.root} --to onnx)")
        path = export(art.root, "onnx").path
    return onnx_predictor(path), path


def audit(run: str | Path, settings: AuditSettings | None = None, log: Callable[[str], None] = print,
          progress: Callable[[int, int], None] | None = None) -> AuditReport:
    """Audit the transfer-learned run at ``run``; writes audit.json and audit.png there and returns the report."""
    import torch

    from zoo import artifacts
    from zoo import io as zio

    settings = settings or AuditSettings()
    art = artifacts.load(run)
    check_transfer_learned(art, settings.backbone_from)
    spec = art.spec
    backbone, origin = attacker_backbone(art, settings.backbone_from)
    predict, onnx_path = deployed_predictor(art, settings.onnx, log)
    classes = list(spec.labels())
    test = spec.data.images[spec.data.splits["test"]]
    width = backbone.features(test[:1]).shape[1]
    neurons = list(range(width if not settings.neurons else min(settings.neurons, width)))
    mean, std = (torch.tensor(v, dtype=torch.float32).view(1, -1, 1, 1) for v in spec.mean_std())
    low, high = (0 - mean) / std, (1 - mean) / std
    gen = np.random.default_rng([settings.seed, 3])
    for p in backbone.parameters():
        p.requires_grad_(False)
    clean_feats = clean_features(backbone.features, test)
    seeds = start_images(clean_feats, test, neurons, settings.start, gen)
    crafted = craft(backbone.features, seeds, neurons, low, high, settings,
                    None if progress is None else (lambda step: progress(step, settings.steps)),
                    clean_range=clean_feats.abs().amax(0))
    ratios = feature_ratios(clean_features(backbone.features, crafted), neurons, clean_feats)
    probabilities = softmax(predict({"image": crafted.numpy()})[0])
    order = gen.permutation(len(neurons))  # the attacker cannot know which neuron feeds which class
    scored = score(probabilities, order, classes)
    clean = softmax(np.concatenate([predict({"image": test[i:i + 256].numpy()})[0] for i in range(0, len(test), 256)]))
    clean_conf = {f"{round(100 * t)}": float(np.mean(clean.max(1) >= t)) for t in THRESHOLDS}
    started = softmax(predict({"image": seeds.numpy()})[0])
    start_conf = {f"{round(100 * t)}": float(np.mean(started.max(1) >= t)) for t in THRESHOLDS}
    n, frozen = stage_counts(art)
    head_layers = sum(isinstance(m, torch.nn.Linear) for m in art.model.head.modules())
    report = AuditReport(run=str(art.root), backbone=spec.config.backbone, backbone_source=origin, freeze=spec.config.freeze,
                         stages=n, frozen_stages=frozen, retrained_stages=n - frozen, retrained_layers=n - frozen + head_layers,
                         classes=classes, neurons=len(neurons), attempts=len(neurons), clean_confident=clean_conf, start_confident=start_conf,
                         features=ratios,
                         onnx=str(onnx_path), settings=asdict(settings), **scored)
    zio.write_json(art.root / REPORT_JSON, report.to_dict())
    plot_crafted(seeds, crafted, probabilities, classes, mean, std, art.root / PICTURE_PNG)
    return report


def plot_crafted(seeds: Any, crafted: Any, probabilities: np.ndarray, classes: list[str], mean: Any, std: Any,
                 out: Path, columns: int = 8) -> Path:
    """Originals (top row) and the inputs crafted from them (bottom row) with the deployed model's answer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo import io as zio

    k = min(columns, len(crafted))
    picks = np.argsort(-probabilities.max(1))[:k]  # the most confident answers
    fig, axes = plt.subplots(2, k, figsize=(1.6 * k, 3.6), squeeze=False)
    for col, i in enumerate(picks):
        for row, batch in enumerate((seeds, crafted)):
            pixels = (batch[i:i + 1] * std + mean)[0].clamp(0, 1).permute(1, 2, 0).numpy()
            ax = axes[row][col]
            ax.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
        c = int(probabilities[i].argmax())
        axes[0][col].set_title(f"neuron {i}", fontsize=7)
        axes[1][col].set_title(f"{classes[c]} {100 * probabilities[i, c]:.1f}%", fontsize=7)
    axes[0][0].set_ylabel("original", fontsize=8)
    axes[1][0].set_ylabel("crafted", fontsize=8)
    fig.suptitle("target-agnostic attack: deployed model's class and confidence on crafted inputs", fontsize=8)
    fig.tight_layout()
    with zio.atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
