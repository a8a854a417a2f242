"""The renderer of the `sprites` data set: factor values to anti-aliased images, for a whole batch at once.

Not a plugin itself (`ica.plugins.datasets.sprites` registers the data set). A scene is a triangle (and, with
seven or eight sources, a small disc on top of it) on a flat background. Its eight factors, in the order the
sources take them (``dim`` sources vary the first ``dim``; the others stay at their ``rest`` value):

====  ============  ==========================  =========================================================
 j    name          range                       meaning
====  ============  ==========================  =========================================================
 0    x             [0.3, 0.7]                  triangle's centroid, fraction of the width from the left
 1    y             [0.3, 0.7]                  triangle's centroid, fraction of the height from the top
 2    scale         [0.14, 0.28]                centroid-to-apex distance, fraction of the width
 3    rotation      [-π/2, π/2] rad             anticlockwise turn of the apex from straight up
 4    brightness    [0.55, 1.0]                 the triangle's grey level (colour: its HSV value)
 5    background    [0.0, 0.3]  (28x28x1)       the background's grey level
 5    hue           [0.0, 2/3]  (32x32x3)       the triangle's HSV hue, red through green to blue
 6    disc_x        [0.15, 0.85]                second shape's centre (a disc), fraction of the width
 7    disc_y        [0.15, 0.85]                second shape's centre, fraction of the height
====  ============  ==========================  =========================================================

The triangle is isosceles and elongated (apex 1, base corners (±0.55, -0.5) in units of ``scale``, centroid at
the origin), so no rotation but a whole turn maps it onto itself: rotation is identifiable. The disc (radius
0.09 of the width) is drawn over the triangle, translucent (opacity `DISC_OPACITY`), in a fixed shade that
neither the triangle nor the background can take (grey 0.42, between the background's and the triangle's
ranges; mid-grey in colour, where the triangle is always saturated): where they overlap both stay visible, so
neither hides the other's factors. The disc is absent when ``dim`` < 7.

Anti-aliasing: each shape's coverage of a pixel is ``clip(0.5 - d, 0, 1)`` with ``d`` the signed distance in
pixels from the pixel's centre to the shape's edge (the box filter of a straight edge), so every edge has a
band of partly covered pixels and a small change of any factor changes some pixel. The triangle's ``d`` is the
largest of its three edges' signed distances (exact on and inside the edges, the usual convex-polygon bound
near the corners). Shapes are composited "over": ``pixel = under + (colour - under) · coverage · opacity``.

Vectorised: each edge's distance is one broadcast sum of a per-column and a per-row term (the rotation and
the scale fold into the edge's normal), so a chunk of images costs a handful of array operations and no Python
loop runs per image. Pixels are computed in float32; the factor-to-geometry arithmetic in float64.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

Variant = Literal["28x28x1", "32x32x3"]
SHAPES: dict[str, tuple[int, int]] = {"28x28x1": (1, 28), "32x32x3": (3, 32)}
"""``(channels, width)`` of each variant (square images, as MNIST's and CIFAR10's)."""

TRIANGLE = np.array([[0.0, 1.0], [-0.55, -0.5], [0.55, -0.5]])
"""The triangle's corners in units of ``scale``, y up (apex first; centroid at the origin)."""

DISC_RADIUS = 0.09
"""The disc's radius, fraction of the width."""

DISC_GREY = 0.42
"""The disc's grey level (28x28x1): between the background's range and the triangle's."""

DISC_COLOUR = (0.5, 0.5, 0.5)
"""The disc's RGB (32x32x3): unsaturated, so never the triangle's colour (saturation `SATURATION`)."""

DISC_OPACITY = 0.6
"""How much of the disc's shade covers what lies under it (1 would hide the triangle's edges under the disc)."""

SATURATION = 0.75
"""The triangle's HSV saturation in colour (below 1, so every channel carries the shape)."""

CHUNK = 2048
"""Images rendered at a time: bounds the float32 temporaries (`RENDER_TEMPORARIES` per pixel of a chunk)."""

RENDER_TEMPORARIES = 6
"""float32 arrays of a chunk's images' size (``[chunk, C, H, W]``) alive at once while it renders, at most
(two distance maps, and three while compositing), for the memory estimate."""


@dataclass(frozen=True)
class Factor:
    """One generative factor: its name, range (the sources' units), value when it is not a source, and meaning."""

    name: str
    low: float
    high: float
    rest: float
    meaning: str

    @property
    def middle(self) -> float:
        return 0.5 * (self.low + self.high)


_COMMON = (
    Factor("x", 0.3, 0.7, 0.5, "triangle's centroid, fraction of the width from the left"),
    Factor("y", 0.3, 0.7, 0.5, "triangle's centroid, fraction of the height from the top"),
    Factor("scale", 0.14, 0.28, 0.21, "centroid-to-apex distance, fraction of the width"),
    Factor("rotation", -math.pi / 2, math.pi / 2, 0.0, "anticlockwise turn of the apex from straight up, radians"),
    Factor("brightness", 0.55, 1.0, 1.0, "the triangle's grey level (colour: its HSV value)"),
)
_DISC = (
    Factor("disc_x", 0.15, 0.85, 0.5, "the disc's centre, fraction of the width (no disc when dim < 7)"),
    Factor("disc_y", 0.15, 0.85, 0.5, "the disc's centre, fraction of the height (no disc when dim < 7)"),
)
_BACKGROUND = Factor("background", 0.0, 0.3, 0.0, "the background's grey level")
_HUE = Factor("hue", 0.0, 2 / 3, 0.1, "the triangle's HSV hue (0 red, 1/3 green, 2/3 blue)")
FACTORS: dict[str, tuple[Factor, ...]] = {
    "28x28x1": (*_COMMON, _BACKGROUND, *_DISC),
    "32x32x3": (*_COMMON, _HUE, *_DISC),
}
"""The eight factors of each variant, in the order the sources take them."""

DISC_FROM = 7
"""Sources needed for the disc to be drawn (its x is source 6)."""


def full_factors(sources: np.ndarray, image: Variant) -> np.ndarray:
    """``[N, 8]`` float64 factor values: the ``[N, dim]`` sources first, every other factor at its ``rest``."""
    factors = FACTORS[image]
    out = np.tile(np.array([f.rest for f in factors]), (sources.shape[0], 1))
    out[:, : sources.shape[1]] = sources
    return out


def hsv_to_rgb(hue: np.ndarray, value: np.ndarray, saturation: float = SATURATION) -> np.ndarray:
    """``[N, 3]`` RGB of hues in [0, 1) (the standard piecewise-linear HSV map), at one saturation."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * hue[:, None]) % 6.0
    ramp = np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)
    return value[:, None] * (1.0 - saturation * ramp)


def _coverage_of_triangle(f: np.ndarray, width: int, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``[N, H, W]`` float32 coverage of each image's triangle; ``dx`` / ``dy`` are pixel centres in pixels."""
    cx, cy, scale, angle = f[:, 0] * width, f[:, 1] * width, f[:, 2] * width, f[:, 3]
    cos, sin = np.cos(angle), np.sin(angle)
    distance = None
    for i in range(3):
        a, b = TRIANGLE[i], TRIANGLE[(i + 1) % 3]
        normal = np.array([b[1] - a[1], a[0] - b[0]])  # outward for the anticlockwise corners above
        normal /= np.linalg.norm(normal)
        offset = float(normal @ a)  # the edge is normal · p = offset in the triangle's frame (units of scale)
        # A point p of the triangle's frame (y up) lands at (column, row) = c + scale · (v_x, -v_y) with
        # v = R(angle) p (rows grow downwards), so the edge's normal in (column, row) is (m_x, -m_y), m = R(angle) n.
        nx = (normal[0] * cos - normal[1] * sin).astype(np.float32)
        ny = (-(normal[0] * sin + normal[1] * cos)).astype(np.float32)
        shift = (nx * cx + ny * cy + offset * scale).astype(np.float32)
        along_columns = nx[:, None, None] * dx[None, None, :] - shift[:, None, None]
        edge = along_columns + ny[:, None, None] * dy[None, :, None]
        distance = edge if distance is None else np.maximum(distance, edge, out=distance)
    assert distance is not None
    return np.clip(np.subtract(np.float32(0.5), distance, out=distance), 0.0, 1.0, out=distance)


def _coverage_of_disc(f: np.ndarray, width: int, dx: np.ndarray, dy: np.ndarray) -> np.ndarray:
    """``[N, H, W]`` float32 coverage of each image's disc."""
    cx, cy = (f[:, 6] * width).astype(np.float32), (f[:, 7] * width).astype(np.float32)
    squared = np.square(dx[None, None, :] - cx[:, None, None]) + np.square(dy[None, :, None] - cy[:, None, None])
    distance = np.sqrt(squared, out=squared) - np.float32(DISC_RADIUS * width)
    return np.clip(np.subtract(np.float32(0.5), distance, out=distance), 0.0, 1.0, out=distance)


def _over(under: np.ndarray, colour: np.ndarray, coverage: np.ndarray, opacity: float = 1.0) -> np.ndarray:
    """``under`` ``[N, C, H, W]`` with a shape of ``colour`` (``[N, C]`` or ``[C]``) composited over it."""
    colour = np.asarray(colour, dtype=np.float32).reshape(-1, under.shape[1], 1, 1)
    return under + (colour - under) * (coverage[:, None] if opacity == 1.0 else coverage[:, None] * np.float32(opacity))


def _render_chunk(f: np.ndarray, image: Variant, disc: bool) -> np.ndarray:
    channels, width = SHAPES[image]
    centres = np.arange(width, dtype=np.float32) + np.float32(0.5)
    if image == "28x28x1":
        background = f[:, 5:6]
        shape_colour = f[:, 4:5]
    else:
        background = np.zeros((f.shape[0], 3))
        shape_colour = hsv_to_rgb(f[:, 5], f[:, 4])
    out = np.broadcast_to(background.astype(np.float32)[:, :, None, None], (f.shape[0], channels, width, width))
    out = _over(out, shape_colour, _coverage_of_triangle(f, width, centres, centres))
    if disc:
        shade = DISC_COLOUR if channels == 3 else (DISC_GREY,)
        out = _over(out, np.array(shade), _coverage_of_disc(f, width, centres, centres), DISC_OPACITY)
    return out


def render(factors: np.ndarray, image: Variant, disc: bool, levels: int | None = 256) -> np.ndarray:
    """Images ``[N, C, W, W]`` float32 in [0, 1] of ``[N, 8]`` factor values (`full_factors`), rendered
    `CHUNK` at a time; with ``levels`` L, each pixel is quantised to ``k / (L - 1)``, k = 0..L-1 (256: the 8-bit
    ``k/255`` of the discretised logistic likelihood); ``None`` keeps the continuous coverage."""
    channels, width = SHAPES[image]
    out = np.empty((factors.shape[0], channels, width, width), dtype=np.float32)
    for start in range(0, factors.shape[0], CHUNK):
        out[start : start + CHUNK] = _render_chunk(factors[start : start + CHUNK], image, disc)
    np.clip(out, 0.0, 1.0, out=out)
    if levels is not None:
        top = np.float32(levels - 1)
        np.rint(np.multiply(out, top, out=out), out=out)
        out /= top  # exact integers divided once, correctly rounded: k/255 as the 8-bit image sets give it
    return out
