"""Seeing inside a trained zoo image model: layer discovery, intermediate activations, filter patterns by
gradient ascent, Grad-CAM heatmaps (`zoo explain`) and DeepDream (`zoo dream`).

Torch-free at import: :mod:`zoo.visualize.commands` registers the CLI; the work lives in
:mod:`~zoo.visualize.probe` (which inputs are images, which layers exist, which output is a class score),
:mod:`~zoo.visualize.explain`, :mod:`~zoo.visualize.dream` and :mod:`~zoo.visualize.pictures`.
"""
