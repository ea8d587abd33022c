"""Task base classes: what every model of one kind shares, so a new model of that kind is a config
plus a network (plus an optional multi-stage ``fit``).

* :mod:`zoo.tasks.base` — :class:`~zoo.tasks.base.StepModule`, the Lightning plumbing every zoo
  training stage shares (step-indexed loader for exact resume, one validation pass, the optimiser
  and schedule, parameter groups, trainable/frozen summary).
* :mod:`zoo.tasks.image_classification` — image data module (named sets and ``imagefolder:PATH``,
  seeded stratified splits, few-label subsets, augmentation by step), top-1/top-5 and confusion
  matrix, image-classifier demo, export spec.

Pair similarity (``siamese``), tabular classification (``deepinsight``) and noisy-label image
classification (``nlnl``) build their Lightning modules on ``StepModule``.
"""
