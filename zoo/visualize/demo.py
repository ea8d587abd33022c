"""The image-classifier demo's "Explain" tab: Grad-CAM of the upload. Needs PyTorch weights (gradients), so
only ``zoo demo --backend torch`` offers it; an ONNX-only demo (a Space) has no gradients and no tab."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

Explain = Callable[[Any], tuple[np.ndarray, str]]


def gradcam_explainer(artifact: Any) -> Explain | None:
    """``explain(image path) -> (input | heatmap | overlay picture, sentence)`` for an image model with class
    scores; None for a model Grad-CAM cannot explain (no image input or no class output)."""
    import torch

    from demos.inputs import image_to_array, load_image
    from zoo.errors import ZooError
    from zoo.visualize.explain import grad_cam, gradcam_picture
    from zoo.visualize.probe import ImageProbe

    try:
        probe = ImageProbe.from_artifact(artifact)
        layer = probe.default_layer().name
    except ZooError:
        return None
    if probe.class_output is None:
        return None

    def explain(image: Any) -> tuple[np.ndarray, str]:
        x = torch.from_numpy(image_to_array(load_image(image, "image"), probe.preprocessing))[None]
        cam = grad_cam(probe, x, layer)
        p = f" ({100 * cam.probability:.1f}%)" if cam.probability is not None else ""
        sentence = (f"Grad-CAM of class {cam.class_name}{p} on layer {layer}: red regions raised this class's "
                    "score the most.")
        return np.asarray(gradcam_picture(probe, x, cam)), sentence

    return explain
