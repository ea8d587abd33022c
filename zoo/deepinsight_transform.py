"""DeepInsight's tabular -> image transform (Sharma et al. 2019), in numpy / SciPy / scikit-learn only.

The method, as in the authors' MATLAB code (alok-ai-lab/DeepInsight) and Python port (pyDeepInsight):

1. scale each feature: ``norm-2`` / ``LogScaler``: log(x + |min| + 1) divided by the *global* maximum
   of that over the training data; or ``norm-1``: per-feature min-max;
2. treat each *feature* as a point: run t-SNE (cosine distance), kernel PCA (RBF) or PCA on the
   transposed training matrix (features x samples) to place the features on a 2-D plane;
3. find the convex hull of those points and its minimum-area bounding rectangle, and rotate the plane
   so that rectangle is axis-aligned;
4. cut the rectangle into a ``pixels`` x ``pixels`` grid (binning, as pyDeepInsight's default
   ``discretization='bin'``); a sample's image holds each feature's scaled value at its pixel, features
   that share a pixel are averaged, empty pixels are 0.

pyDeepInsight is GPL-3 (this project is MIT), so this is our own implementation, not a copy. Two
places where it deliberately follows the paper / MATLAB code instead of pyDeepInsight 0.2.3: the
hull's closing edge (last -> first vertex) is a candidate rectangle orientation too, and the plane is
rotated by *minus* the edge angle, which is what makes the rectangle axis-aligned (pyDeepInsight's
rotation matrix turns by plus the angle).

The fitted result is plain arrays (:class:`FittedTransform`). The zoo model copies them into
registered buffers and applies them in the graph (``scaled @ pixel_matrix``); :func:`images_from_state`
is the numpy reference of that graph, usable without torch (e.g. in a Gradio Space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Scaler = Literal["log", "minmax"]
FeatureExtractor = Literal["tsne", "kpca", "pca"]


@dataclass
class FittedTransform:
    """Everything the transform learned from the training rows."""

    scaler: Scaler
    offset: np.ndarray  # (F,) added to the raw value
    factor: np.ndarray  # (F,) multiplies the (log-)shifted value
    embedding: np.ndarray  # (F, 2) feature positions from the feature extractor
    rotation: np.ndarray  # (2, 2) rotation making the minimum-area rectangle axis-aligned
    coords: np.ndarray  # (F, 2) int pixel (row, column) of each feature
    pixels: int

    @property
    def n_features(self) -> int:
        return len(self.offset)

    def pixel_matrix(self) -> np.ndarray:
        return averaging_matrix(self.coords, self.pixels)

    def scale(self, x: np.ndarray) -> np.ndarray:
        return scale_features(x, self.scaler, self.offset, self.factor)

    def images(self, x: np.ndarray) -> np.ndarray:
        """(N, F) raw rows -> (N, pixels, pixels) images."""
        flat = self.scale(x) @ self.pixel_matrix()
        return flat.reshape(len(x), self.pixels, self.pixels)


# -- 1. scaling ------------------------------------------------------------------------------------

def fit_scaler(x_train: np.ndarray, scaler: Scaler) -> tuple[np.ndarray, np.ndarray]:
    """(offset, factor) so that ``scale_features`` reproduces the authors' LogScaler or a min-max scaler."""
    x_train = np.asarray(x_train, dtype=np.float64)
    n_features = x_train.shape[1]
    if scaler == "log":
        offset = np.abs(x_train.min(axis=0)) + 1.0
        global_max = float(np.log(x_train + offset).max())
        factor = np.full(n_features, 1.0 / global_max if global_max > 0 else 1.0)
        return offset, factor
    low, high = x_train.min(axis=0), x_train.max(axis=0)
    spread = high - low
    return -low, np.where(spread > 0, 1.0 / np.where(spread > 0, spread, 1.0), 1.0)


def scale_features(x: np.ndarray, scaler: Scaler, offset: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Scaled values in [0, 1]. For ``log``, values below the training minimum clip to 0 instead of
    taking the log of a non-positive number (the authors clip after the log; same result, no NaN)."""
    x = np.asarray(x, dtype=np.float64)
    if scaler == "log":
        return np.clip(np.log(np.maximum(x + offset, 1.0)) * factor, 0.0, 1.0)
    return np.clip((x + offset) * factor, 0.0, 1.0)


# -- 2. feature positions --------------------------------------------------------------------------

def tsne_perplexity(n_points: int) -> float:
    """The authors' 30, lowered for few features (t-SNE needs perplexity < number of points)."""
    return float(min(30.0, max(1.0, (n_points - 1) / 3.0)))


def embed_features(scaled_train: np.ndarray, method: FeatureExtractor, seed: int) -> np.ndarray:
    """2-D positions of the features: the extractor runs on the transposed matrix (features x samples)."""
    points = np.ascontiguousarray(np.asarray(scaled_train, dtype=np.float64).T)
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(points)
    if method == "kpca":
        from sklearn.decomposition import KernelPCA

        return KernelPCA(n_components=2, kernel="rbf", random_state=seed).fit_transform(points)
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    # cosine distance as in the authors' code; it is undefined for an all-zero feature (constant in training)
    metric = "cosine" if np.all(np.linalg.norm(points, axis=1) > 0) else "euclidean"
    tsne = TSNE(n_components=2, metric=metric, perplexity=tsne_perplexity(len(points)), init="pca", random_state=seed)
    # One thread: Barnes-Hut sums in thread order, so this keeps the layout identical on every machine
    # (a resumed run re-fits it), and it is faster than oversubscribed OpenMP threads on busy CPUs.
    with threadpool_limits(limits=1):
        return tsne.fit_transform(points)


# -- 3. convex hull, minimum-area rectangle, rotation ---------------------------------------------

def rotation_matrix(angle: float) -> np.ndarray:
    """Counter-clockwise rotation by ``angle`` for column vectors (``points @ R.T`` for row vectors)."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def hull_vertices(points: np.ndarray) -> np.ndarray | None:
    """Convex-hull vertices in counter-clockwise order, or None when the points span no area."""
    from scipy.spatial import ConvexHull, QhullError

    if len(points) < 3:
        return None
    try:
        hull = ConvexHull(points)
    except QhullError:  # all points on a line (or identical)
        return None
    return points[hull.vertices]


def minimum_area_rectangle(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rotation R, rectangle corners (4, 2)) of the minimum-area rectangle enclosing ``points``.

    ``points @ R.T`` has that rectangle axis-aligned. The optimal rectangle has a side on a hull edge,
    so it is enough to try each edge's angle (modulo 90 degrees) and rotate by minus that angle.
    """
    hull = hull_vertices(points)
    if hull is None:
        return _degenerate_rectangle(points)
    edges = np.roll(hull, -1, axis=0) - hull  # includes the closing edge, last -> first vertex
    angles = np.unique(np.mod(np.arctan2(edges[:, 1], edges[:, 0]), np.pi / 2))
    rotations = np.stack([rotation_matrix(-a) for a in angles])  # (k, 2, 2)
    rotated = np.einsum("kij,nj->kni", rotations, hull)  # (k, n, 2)
    low, high = rotated.min(axis=1), rotated.max(axis=1)
    areas = np.prod(high - low, axis=1)
    best = int(np.argmin(areas))
    return rotations[best], _corners(low[best], high[best], rotations[best])


def _degenerate_rectangle(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Collinear (or fewer than 3) points: rotate their principal direction onto the first axis."""
    centred = points - points.mean(axis=0)
    if len(points) < 2 or not np.any(centred):
        rotation = np.eye(2)
    else:
        direction = np.linalg.svd(centred, full_matrices=False)[2][0]
        rotation = rotation_matrix(-np.arctan2(direction[1], direction[0]))
    rotated = points @ rotation.T
    return rotation, _corners(rotated.min(axis=0), rotated.max(axis=0), rotation)


def _corners(low: np.ndarray, high: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """The rectangle [low, high] of the rotated frame, in the original frame (R is orthogonal)."""
    rect = np.array([[low[0], low[1]], [high[0], low[1]], [high[0], high[1]], [low[0], high[1]]])
    return rect @ rotation


# -- 4. pixels -------------------------------------------------------------------------------------

def pixel_coordinates(rotated: np.ndarray, pixels: int) -> np.ndarray:
    """Bin the rotated positions into a ``pixels`` x ``pixels`` grid: int (F, 2) of (row, column).

    As pyDeepInsight's ``coordinate_binning``: scale each axis to [0, pixels], floor, and move the
    maximum (which lands on ``pixels``) into the last bin.
    """
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    spread = np.where(high > low, high - low, 1.0)
    binned = np.floor((rotated - low) / spread * pixels).astype(np.int64)
    return np.clip(binned, 0, pixels - 1)


def averaging_matrix(coords: np.ndarray, pixels: int) -> np.ndarray:
    """(F, pixels*pixels) matrix M with ``scaled @ M`` = the flattened image: column p averages the
    features whose pixel is p (row-major p = row * pixels + column); empty pixels stay 0."""
    flat = coords[:, 0] * pixels + coords[:, 1]
    counts = np.bincount(flat, minlength=pixels * pixels)
    matrix = np.zeros((len(coords), pixels * pixels))
    matrix[np.arange(len(coords)), flat] = 1.0 / counts[flat]
    return matrix


def fit_transform(x_train: np.ndarray, *, scaler: Scaler = "log", feature_extractor: FeatureExtractor = "tsne",
                  pixels: int = 32, seed: int = 0) -> FittedTransform:
    """Fit the whole transform on the training rows (N, F); nothing of other splits is looked at."""
    offset, factor = fit_scaler(x_train, scaler)
    scaled = scale_features(x_train, scaler, offset, factor)
    embedding = embed_features(scaled, feature_extractor, seed)
    rotation, _ = minimum_area_rectangle(embedding)
    coords = pixel_coordinates(embedding @ rotation.T, pixels)
    return FittedTransform(scaler, offset, factor, embedding, rotation, coords, pixels)


# -- the same computation from saved buffers (torch-free) ------------------------------------------

BUFFER_PREFIX = "transform."


def images_from_state(state: dict[str, np.ndarray], rows: np.ndarray, scaler: Scaler, pixels: int) -> np.ndarray:
    """Images (N, pixels, pixels) from raw rows with the buffers of a saved model (``model.safetensors``
    read with ``safetensors.numpy.load_file``): what the exported graph computes before its CNN."""
    offset = state[BUFFER_PREFIX + "offset"]
    factor = state[BUFFER_PREFIX + "factor"]
    matrix = state[BUFFER_PREFIX + "pixel_matrix"]
    flat = scale_features(np.asarray(rows, dtype=np.float64), scaler, offset, factor) @ matrix
    return flat.reshape(len(rows), pixels, pixels)


def rectangle_of(embedding: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Corners (4, 2) of the axis-aligned bounding box of ``embedding @ rotation.T``, in the original frame."""
    rotated = embedding @ rotation.T
    return _corners(rotated.min(axis=0), rotated.max(axis=0), rotation)
