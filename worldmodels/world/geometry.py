"""The geometry of CarRacing's camera, in numpy: world polygons to window pixels, and which ones are seen.

The same operations in the same order as the stock env's pygame code, so transformed coordinates match to
the last bit (``exact``). The ``fast`` renderer folds the camera into one affine map of its own.
"""

from __future__ import annotations

import math

import numpy as np
from gymnasium.envs.box2d import car_racing as cr

_TWO_PI = 2.0 * math.pi
_EPSILON = 1e-6  # pygame.math.Vector2's default epsilon for its 90-degree special case


def grass_polygons() -> np.ndarray:
    """The 400 grass squares of ``CarRacing._render_road`` as float64 (400, 4, 2)."""
    g = cr.GRASS_DIM
    polys = [
        [(g * x + g, g * y), (g * x, g * y), (g * x, g * y + g), (g * x + g, g * y + g)]
        for x in range(-20, 20, 2)
        for y in range(-20, 20, 2)
    ]
    return np.asarray(polys, dtype=np.float64)


def field_polygon() -> np.ndarray:
    b = cr.PLAYFIELD
    return np.asarray([[(b, b), (b, -b), (-b, -b), (-b, b)]], dtype=np.float64)


def rotation(angle: float) -> tuple[float, float]:
    """(cos, sin) exactly as ``pygame.math.Vector2.rotate_rad`` computes them.

    pygame first wraps the angle into [0, 2 pi) and special-cases multiples of 90
    degrees; reproducing both keeps transformed coordinates bit-identical.
    """
    angle = math.fmod(angle, _TWO_PI)
    if angle < 0.0:
        angle += _TWO_PI
    if math.fmod(angle + _EPSILON, math.pi / 2) < 2 * _EPSILON:
        quarter = int((angle + _EPSILON) / (math.pi / 2)) % 4
        return ((1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0))[quarter]
    return math.cos(angle), math.sin(angle)


def transform(points: np.ndarray, cos_sin: tuple[float, float], zoom: float, trans) -> np.ndarray:
    """World (..., 2) -> window pixel coordinates (..., 2), float64.

    The same operations in the same order as the stock env (rotate, then scale,
    then translate), so the results match to the last bit.
    """
    c, s = cos_sin
    x, y = points[..., 0], points[..., 1]
    out = np.empty_like(points)
    out[..., 0] = (c * x - s * y) * zoom + trans[0]
    out[..., 1] = (s * x + c * y) * zoom + trans[1]
    return out


def padded_cull(window_points: np.ndarray) -> np.ndarray:
    """Stock culling: a polygon (P, 4, 2) is drawn if any vertex lies in the padded window."""
    m = cr.MAX_SHAPE_DIM
    x, y = window_points[..., 0], window_points[..., 1]
    inside = (x >= -m) & (x <= cr.WINDOW_W + m) & (y >= -m) & (y <= cr.WINDOW_H + m)
    return inside.any(axis=-1)


def near_window(centers: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Polygons (P,) whose bounding circle (window centres (P, 2), radii (P,)) meets the padded window.

    Every vertex lies within the circle, so a polygon failing this also fails
    ``padded_cull``: a cheap, exact pre-filter.
    """
    pad = cr.MAX_SHAPE_DIM + radii
    x, y = centers[:, 0], centers[:, 1]
    return (x >= -pad) & (x <= cr.WINDOW_W + pad) & (y >= -pad) & (y <= cr.WINDOW_H + pad)
