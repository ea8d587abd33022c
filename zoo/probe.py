"""`zoo probe RUN`: how good are a run's backbone features, stage by stage, with few labels?

The linear-probe evaluation of self-supervised pretraining (Gidaris et al. 2018 probe each conv block
of a RotNet; Doersch et al. 2015 and most later work do the same): freeze the encoder, take the
output of every stage, pool it to a small fixed grid, and fit a logistic-regression classifier
(scikit-learn) on ``labels_per_class`` labelled training images per class; report its test accuracy.
The same is done for the same architecture from random init (built under the same seed), so a reader
sees per stage whether the pretraining helps over random features. Each seed draws its own labelled
subset and its own random-init backbone; the run's (pretrained) backbone is the same for all seeds.

Works for any run whose model holds a zoo backbone (``ZooModel.backbone_weights``: rotnet, context,
noise-level, transfer). Writes ``probe.json`` and ``probe.png`` next to the run.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoo.errors import ZooError

REPORT_JSON = "probe.json"
PICTURE_PNG = "probe.png"
MAX_FEATURES = 2048  # per stage after pooling: the grid shrinks (4x4 -> 2x2 -> 1x1) until C x g x g fits


@dataclass
class ProbeReport:
    run: str
    model: str
    backbone: str
    data: str
    labels_per_class: int
    seeds: list[int]
    image_size: int  # side of the images the stages saw
    train_images: int  # labelled images per seed (labels_per_class x classes, fewer when a class has fewer)
    test_images: int
    stages: list[dict[str, Any]]  # per stage: name, channels, grid, features, pretrained/random accuracies (per seed, mean, spread)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def backbone_of(art: Any) -> tuple[str, dict[str, Any]]:
    """(backbone name, its ``stages.*`` weights) of the artifact; a one-line ZooError when it holds none."""
    held = art.spec.backbone_weights(art.state_dict())
    if held is None:
        raise ZooError(f"{art.root} holds a '{art.name}' model, which has no zoo backbone to probe; `zoo probe` needs a run of "
                       "a model built on --backbone (rotnet, context, noise-level, transfer).")
    return held


def build_stages(name: str, in_channels: int, state: dict[str, Any] | None, seed: int) -> tuple[list[str], Any]:
    """The backbone's stages (an eval-mode ModuleList): ``state`` loaded, or random init under ``seed``."""
    import torch

    from zoo.backbones.build import build_parts

    torch.manual_seed(seed)
    parts = build_parts(name, in_channels=in_channels, pretrained="none")
    stages = torch.nn.ModuleList([m for _, m in parts.stages])
    if state is not None:
        own = {f"stages.{k}" for k in stages.state_dict()}
        missing = own - set(state)
        if missing:
            raise ZooError(f"the run's weights lack {len(missing)} tensors of its {name} backbone (first: {sorted(missing)[0]}); "
                           "the run is damaged, train it again.")
        stages.load_state_dict({k.removeprefix("stages."): v for k, v in state.items() if k.startswith("stages.")})
    for p in stages.parameters():
        p.requires_grad_(False)
    return [n for n, _ in parts.stages], stages.eval()


def stage_features(stages: Any, images: Any, chunk: int = 256) -> list[np.ndarray]:
    """Per stage, (N, C x g x g) float32: the stage's output average-pooled to a g x g grid (g = 4, 2 or 1,
    the largest that fits the map and MAX_FEATURES)."""
    import torch
    import torch.nn.functional as F

    out: list[list[np.ndarray]] = [[] for _ in stages]
    with torch.no_grad():
        for i in range(0, len(images), chunk):
            x = images[i:i + chunk]
            for k, stage in enumerate(stages):
                x = stage(x)
                grid = pooling_grid(x.shape[1], min(x.shape[-2:]) if x.dim() == 4 else 1)
                pooled = F.adaptive_avg_pool2d(x, grid) if x.dim() == 4 else x
                out[k].append(pooled.flatten(1).numpy().astype(np.float32))
    return [np.concatenate(parts) for parts in out]


def pooling_grid(channels: int, side: int) -> int:
    """The largest g of 4, 2, 1 with g <= side and channels x g x g <= MAX_FEATURES."""
    return next(g for g in (4, 2, 1) if g == 1 or (g <= side and channels * g * g <= MAX_FEATURES))


def fit_probe(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, seed: int) -> float:
    """Test accuracy of a standardised multinomial logistic regression fitted on (train_x, train_y)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0, random_state=seed))
    clf.fit(train_x, train_y)
    return float(np.mean(clf.predict(test_x) == test_y))


def labelled_rows(targets: np.ndarray, train: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """``per_class`` rows of each class drawn (seeded) from the ``train`` rows."""
    rng = np.random.default_rng([seed, 17])
    picked = [rng.permutation(train[targets[train] == c])[:per_class] for c in np.unique(targets[train])]
    return np.sort(np.concatenate(picked))


def check_seeds(seeds: list[int]) -> list[int]:
    if not seeds:
        raise ZooError("--seeds is empty; give one or more seeds, e.g. --seeds 0,1,2.")
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ZooError(f"--seeds {','.join(map(str, seeds))} has repeats or negatives; give distinct seeds >= 0, e.g. 0,1,2.")
    return seeds


def summary(values: list[float]) -> dict[str, Any]:
    return {"per_seed": values, "mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0}


def probe(run: str | Path, labels_per_class: int = 10, seeds: list[int] | None = None,
          log: Callable[[str], None] = print, image_size: int = 0) -> ProbeReport:
    """Probe every stage of the backbone of ``run`` against random init; writes probe.json and probe.png there.

    ``image_size`` > 0 resizes the run's images to that side first (e.g. a context encoder, which saw
    32 px patches of 112 px images, probed on whole images at 32 px)."""
    from zoo import artifacts
    from zoo import io as zio

    seeds = check_seeds(list(seeds) if seeds is not None else [0, 1, 2])
    if labels_per_class < 1:
        raise ZooError(f"--labels-per-class {labels_per_class} must be at least 1 (e.g. 10).")
    if image_size < 0 or image_size > 4096:
        raise ZooError(f"--image-size {image_size} is out of range; give 0 (the run's own size) or a side up to 4096.")
    art = artifacts.load(run)
    name, weights = backbone_of(art)
    spec = art.spec
    data = spec.data
    train, test = data.splits["train"], data.splits["test"]
    if len(np.unique(data.targets[train])) < 2 or len(test) == 0:
        raise ZooError(f"the data of {art.root} leaves fewer than 2 labelled classes in its train split or no test images; "
                       "a probe needs a labelled data set (--data of the run).")
    in_channels = spec.in_channels()
    names, pretrained = build_stages(name, in_channels, weights, seed=0)
    log(f"probing {len(names)} stages of {name} ({', '.join(names)}) with {labels_per_class} labels per class, seeds {seeds}")
    needed = np.unique(np.concatenate([labelled_rows(data.targets, train, labels_per_class, s) for s in seeds] + [test]))
    where = {int(r): i for i, r in enumerate(needed)}
    images = data.images[needed]
    if image_size:
        import torch.nn.functional as F
        from zoo.backbones import BACKBONES

        smallest = BACKBONES[name].min_size if name in BACKBONES else 1
        if image_size < smallest:
            raise ZooError(f"--image-size {image_size} is below what {name} accepts ({smallest}); give at least {smallest}.")
        images = F.interpolate(images, size=(image_size, image_size), mode="bilinear", antialias=True, align_corners=False)
    ours = stage_features(pretrained, images)
    acc: dict[str, list[list[float]]] = {"pretrained": [[] for _ in names], "random": [[] for _ in names]}
    test_idx = np.array([where[int(r)] for r in test])
    n_train = 0
    for seed in seeds:
        rows = labelled_rows(data.targets, train, labels_per_class, seed)
        n_train = len(rows)
        train_idx = np.array([where[int(r)] for r in rows])
        _, random_stages = build_stages(name, in_channels, None, seed=seed)
        for which, feats in (("pretrained", ours), ("random", stage_features(random_stages, images))):
            for k, f in enumerate(feats):
                acc[which][k].append(fit_probe(f[train_idx], data.targets[rows], f[test_idx], data.targets[test], seed))
    stages = []
    for k, stage in enumerate(names):
        dim = ours[k].shape[1]
        stages.append({"stage": stage, "features": int(dim), "pretrained": summary(acc["pretrained"][k]),
                       "random": summary(acc["random"][k])})
    report = ProbeReport(run=str(art.root), model=art.name, backbone=name, data=str(spec.config.data),
                         labels_per_class=labels_per_class, seeds=seeds, image_size=int(images.shape[-1]), train_images=n_train, test_images=len(test),
                         stages=stages, settings={"classifier": "StandardScaler + LogisticRegression(C=1, max_iter=2000)",
                                                  "pooling": f"adaptive average to g x g, g in 4/2/1, <= {MAX_FEATURES} features"})
    zio.write_json(art.root / REPORT_JSON, report.to_dict())
    plot(report, art.root / PICTURE_PNG)
    return report


def plot(report: ProbeReport, out: Path) -> Path:
    """Probe accuracy per stage, pretrained vs random init (mean with the seeds' spread as error bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo import io as zio

    x = np.arange(len(report.stages))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(x) + 2), 3.4))
    for which, style in (("pretrained", "o-"), ("random", "s--")):
        means = [100 * s[which]["mean"] for s in report.stages]
        spreads = [100 * s[which]["std"] for s in report.stages]
        label = f"{report.model} run" if which == "pretrained" else "random init"
        ax.errorbar(x, means, yerr=spreads, fmt=style, capsize=3, label=label)
    ax.set_xticks(x, [s["stage"] for s in report.stages])
    ax.set_xlabel(f"{report.backbone} stage")
    ax.set_ylabel("probe test accuracy (%)")
    ax.set_title(f"linear probe, {report.labels_per_class} labels/class, seeds {','.join(map(str, report.seeds))}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with zio.atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return out
