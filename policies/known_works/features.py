"""Local features (ORB) and geometric verification: copies that were mirrored, rotated or cropped.

Perceptual hashes see the whole picture, so a copy that keeps a third of it, or is turned by
a dozen degrees, or is mirrored, lands too far away to be called a match.  Local features do
not care: ORB finds corners at several scales and describes each with a 256-bit binary
descriptor that is rotation-invariant.  Two images show the same picture when many of their
descriptors match *and* the matched points agree on one plane-to-plane mapping (a homography
found by RANSAC).  That second condition is what keeps unrelated images out: textures and
text produce plenty of look-alike descriptors, but not dozens that move together.

ORB descriptors are not mirror-invariant, so a query is described twice: as it is and
mirrored left to right.  Mirroring the query (not the references) keeps the stored features
and the index half the size.

Registered images are described from their 512-pixel reference copy; queries are reduced to
the same size, so the ORB pyramid (8 levels, factor 1.2, about 3.6x in scale) covers crops
down to roughly a quarter of the picture's side.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image, ImageOps

#: Bumped when the recipe changes; `works reindex` recomputes features of another version.
FEATURE_VERSION = 1
FEATURE_SIDE = 512
REFERENCE_FEATURES = 400
QUERY_FEATURES = 500
DESCRIPTOR_BYTES = 32
#: Lowe's ratio test: the best match must be clearly better than the second best.
RATIO = 0.8
RANSAC_REPROJECTION_PX = 6.0
_HEADER = np.dtype("<u4")


@dataclass(frozen=True)
class Features:
    """Keypoint positions (k, 2) float32 and their ORB descriptors (k, 32) uint8."""

    points: np.ndarray
    descriptors: np.ndarray
    width: int
    height: int

    def __len__(self) -> int:
        return int(self.points.shape[0])

    def packed(self) -> bytes:
        """Little-endian bytes for a database column: header, points, descriptors."""
        header = np.array([len(self), self.width, self.height], dtype=_HEADER).tobytes()
        points = np.ascontiguousarray(self.points, dtype="<f4").tobytes()
        return header + points + np.ascontiguousarray(self.descriptors, np.uint8).tobytes()


def unpack_features(data: bytes) -> Features:
    """Inverse of `Features.packed`."""
    count, width, height = (int(v) for v in np.frombuffer(data[:12], dtype=_HEADER))
    points_end = 12 + count * 8
    points = np.frombuffer(data[12:points_end], dtype="<f4").reshape(count, 2)
    descriptors = np.frombuffer(data[points_end:], dtype=np.uint8).reshape(count, DESCRIPTOR_BYTES)
    return Features(points.astype(np.float32), descriptors.copy(), width, height)


def extract(image: Image.Image, max_features: int = REFERENCE_FEATURES) -> Features:
    """ORB keypoints and descriptors of `image`, reduced to `FEATURE_SIDE` on its long side.

    A sliver (a side under 32 pixels, as in 16384x1 hostile files) has no local features."""
    if min(image.size) < 32:
        return Features(
            np.zeros((0, 2), np.float32),
            np.zeros((0, DESCRIPTOR_BYTES), np.uint8),
            image.size[0],
            image.size[1],
        )
    gray = _gray(image)
    orb = cv2.ORB_create(  # type: ignore[attr-defined]
        nfeatures=max_features, scaleFactor=1.2, nlevels=8, fastThreshold=12
    )
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None or not keypoints:
        return Features(
            np.zeros((0, 2), np.float32),
            np.zeros((0, DESCRIPTOR_BYTES), np.uint8),
            gray.shape[1],
            gray.shape[0],
        )
    points = np.array([kp.pt for kp in keypoints], dtype=np.float32)
    return Features(points, descriptors.astype(np.uint8), gray.shape[1], gray.shape[0])


def query_features(image: Image.Image) -> tuple[Features, Features]:
    """The query's features as it is and mirrored left to right."""
    return extract(image, QUERY_FEATURES), extract(ImageOps.mirror(image), QUERY_FEATURES)


@dataclass(frozen=True)
class Verification:
    """How well a query maps onto a reference: RANSAC inliers of the ratio-tested matches."""

    matches: int
    inliers: int
    plausible: bool  # the homography keeps orientation and a sane scale

    def confirmed(self, min_inliers: int) -> bool:
        """Whether this is the same picture (enough inliers on a plausible mapping)."""
        return self.plausible and self.inliers >= min_inliers


def verify(query: Features, reference: Features) -> Verification:
    """Match descriptors (ratio test), fit a homography with RANSAC, and judge it."""
    if len(query) < 4 or len(reference) < 4:
        return Verification(0, 0, False)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
    pairs = matcher.knnMatch(query.descriptors, reference.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 4:
        return Verification(len(good), 0, False)
    src = query.points[[m.queryIdx for m in good]].reshape(-1, 1, 2)
    dst = reference.points[[m.trainIdx for m in good]].reshape(-1, 1, 2)
    homography, mask = cv2.findHomography(src, dst, cv2.RANSAC, RANSAC_REPROJECTION_PX)
    if homography is None or mask is None:
        return Verification(len(good), 0, False)
    inliers = mask.ravel().astype(bool)
    plausible = _plausible(homography) and _spread(dst.reshape(-1, 2)[inliers], reference)
    return Verification(len(good), int(inliers.sum()), plausible)


def _plausible(h: np.ndarray) -> bool:
    """Orientation kept (mirrors are handled by mirroring the query), scale within 1/8..8,
    and only a mild perspective: what edits of a picture do, unlike a chance fit."""
    if abs(h[2, 2]) < 1e-9:
        return False
    h = h / h[2, 2]
    det = float(np.linalg.det(h[:2, :2]))
    return 1 / 64 < det < 64 and float(np.abs(h[2, :2]).max()) < 0.002


def _spread(points: np.ndarray, reference: Features) -> bool:
    """Inliers must cover some of the picture, not one small patch (a repeated texture)."""
    if len(points) < 4:
        return False
    span = points.max(axis=0) - points.min(axis=0)
    return bool(span[0] >= 0.08 * reference.width and span[1] >= 0.08 * reference.height)


def _gray(image: Image.Image) -> np.ndarray:
    gray = image.convert("L")
    scale = FEATURE_SIDE / max(gray.size)
    if scale < 1:
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.uint8)
