"""The renderers that replace CarRacing's pygame drawing of the 96x96 state.

``exact``  the same pygame drawing calls on the same 1000x800 surface, but the ~730 polygon transforms
           and off-screen culls are done at once in numpy, the Font and the reward text are cached. Frames
           are bit-identical to stock (tested).
``fast``   the state is drawn with OpenCV on a 384x384 canvas (4x4 samples per output pixel, the vertical
           flip folded into the transform) and box-averaged to 96x96. Same scene, same colours, same draw
           order; edges differ by sub-pixel amounts from pygame's rasteriser (mean absolute difference well
           under 1/255 per pixel, tested). ``render()`` for videos (``rgb_array``) still uses the exact path.
``direct`` the fast drawing of V's input itself (64x64, the top 84 rows), with no 96x96 state in between:
           fewer pixels, no indicator bar, no crop or resize (``DirectCarRacing``).

Physics, rewards, termination and truncation are gymnasium's own: only ``_render`` is replaced. The classes
rely on private drawing methods of gymnasium's CarRacing, so ``worldmodels.world.env`` checks its version.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import pygame
from gymnasium import spaces
from gymnasium.envs.box2d import car_racing as cr
from gymnasium.envs.box2d.car_dynamics import SIZE, WHEEL_R, WHEEL_W, WHEEL_WHITE

from .frames import CROP_ROWS
from .geometry import field_polygon, grass_polygons, near_window, padded_cull, rotation, tight_cull, transform

STATE_SIZE = cr.STATE_W  # 96
SMOOTHSCALE_BIAS = 2  # pygame.transform.smoothscale(1000x800 -> 96x96) darkens flat colours by 2
REWARD_TEXT_CENTER = (60, cr.WINDOW_H - cr.WINDOW_H * 2.5 / 40.0)
MAX_CAR_VERTICES = 8  # Box2D polygons have at most 8 vertices


class ExactCarRacing(cr.CarRacing):
    """CarRacing whose pygame drawing is fed by vectorised transforms; frames equal stock."""

    _grass = grass_polygons()
    _field = field_polygon()

    def reset(self, *, seed=None, options=None):
        self._scene_cache = None  # road_poly is rebuilt by reset
        return super().reset(seed=seed, options=options)

    # -- scene geometry ---------------------------------------------------------
    def _static_polygons(self):
        """Grass then road polygons (G + R, 4, 2), colour objects, bounding circles; once per track.

        Tile colours are numpy arrays that the contact listener mutates when a
        tile is visited, so the colour objects (not their values) are kept.
        """
        cache = self.__dict__.get("_scene_cache")
        if cache is None or cache[0] is not self.road_poly:
            road = np.asarray([poly for poly, _ in self.road_poly], dtype=np.float64).reshape(-1, 4, 2)
            points = np.concatenate([self._grass, road])
            colors = [self.grass_color] * len(self._grass) + [color for _, color in self.road_poly]
            centers = points.mean(axis=1)  # (G + R, 2)
            radii = np.linalg.norm(points - centers[:, None], axis=-1).max(axis=1)  # (G + R,)
            cache = self._scene_cache = (self.road_poly, points, colors, centers, radii)
        return cache[1:]

    def _camera(self):
        """(cos_sin, zoom, translation) of the stock camera for the current step."""
        angle = -self.car.hull.angle
        zoom = 0.1 * cr.SCALE * max(1 - self.t, 0) + cr.ZOOM * cr.SCALE * min(self.t, 1)
        scroll_x = -(self.car.hull.position[0]) * zoom
        scroll_y = -(self.car.hull.position[1]) * zoom
        trans = pygame.math.Vector2((scroll_x, scroll_y)).rotate_rad(angle)
        trans = (cr.WINDOW_W / 2 + trans[0], cr.WINDOW_H / 4 + trans[1])
        return rotation(angle), zoom, trans

    def _scene(self, cos_sin, zoom, trans, cull=padded_cull):
        """Background, grass and road in stock draw order, culled.

        Args:
            cull: ``padded_cull`` (stock's test, for bit-identical frames) or
                ``tight_cull``; only polygons whose bounding circle can reach the
                padded window are transformed in full and tested.

        Returns:
            polygons: float64 (P, 4, 2) window coordinates (before the vertical flip).
            colors: P lists of 3 ints, truncated from the stock colours as stock does.
        """
        points, colors, centers, radii = self._static_polygons()
        near = np.flatnonzero(near_window(transform(centers, cos_sin, zoom, trans), radii * zoom))
        window = transform(points[near], cos_sin, zoom, trans)  # (P', 4, 2)
        keep = np.flatnonzero(cull(window))
        polygons = np.concatenate([transform(self._field, cos_sin, zoom, trans), window[keep]])
        rgb = np.asarray([self.bg_color] + [colors[i] for i in near[keep]], dtype=np.float64)
        return polygons, rgb.astype(np.int64).tolist()

    # -- drawing ----------------------------------------------------------------
    def _render(self, mode: str):
        if mode == "human":
            return super()._render(mode)
        assert mode in self.metadata["render_modes"]
        if "t" not in self.__dict__:
            return None  # reset() not called yet
        return self._render_exact(mode)

    def _render_exact(self, mode: str):
        self.surf = pygame.Surface((cr.WINDOW_W, cr.WINDOW_H))
        cos_sin, zoom, trans = self._camera()
        polygons, colors = self._scene(cos_sin, zoom, trans)
        aapolygon, filled_polygon = pygame.gfxdraw.aapolygon, pygame.gfxdraw.filled_polygon
        for points, color in zip(polygons.tolist(), colors):
            aapolygon(self.surf, points, color)
            filled_polygon(self.surf, points, color)
        self.car.draw(self.surf, zoom, trans, -self.car.hull.angle, mode not in ["state_pixels_list", "state_pixels"])
        self.surf = pygame.transform.flip(self.surf, False, True)
        self._render_indicators(cr.WINDOW_W, cr.WINDOW_H)
        text = self._reward_text()
        rect = text.get_rect()
        rect.center = REWARD_TEXT_CENTER
        self.surf.blit(text, rect)
        size = (cr.VIDEO_W, cr.VIDEO_H) if mode == "rgb_array" else (cr.STATE_W, cr.STATE_H)
        return self._create_image_array(self.surf, size)

    def _reward_text(self) -> pygame.Surface:
        """The reward counter surface, rendered once per distinct string."""
        cache = self.__dict__.setdefault("_text_cache", {})
        label = f"{self.reward:04.0f}"
        if label not in cache:
            font = self.__dict__.get("_font")
            if font is None:
                pygame.font.init()
                font = self._font = pygame.font.Font(pygame.font.get_default_font(), 42)
            if len(cache) > 4096:
                cache.clear()
            cache[label] = font.render(label, True, (255, 255, 255), (0, 0, 0))
        return cache[label]


class FastCarRacing(ExactCarRacing):
    """CarRacing whose 96x96 state is drawn with OpenCV on a supersampled canvas."""

    SUPERSAMPLE = 4  # canvas side = 96 * 4, halved twice down to 96
    _SHIFT = 4  # fixed-point bits for sub-pixel polygon vertices in cv2

    def _render(self, mode: str):
        if mode != "state_pixels" or "t" not in self.__dict__:
            return super()._render(mode)
        return self._render_fast()

    def _render_fast(self) -> np.ndarray:
        return self._draw(STATE_SIZE, STATE_SIZE)

    def _draw(self, size: int, rows: int) -> np.ndarray:
        """The top ``rows`` of the 96 state rows, drawn at (size, size, 3) on a canvas SUPERSAMPLE times larger.

        ``rows`` = 96 is the whole state; ``rows`` <= ``CROP_ROWS`` (84) leaves out the indicator bar and the
        reward counter below them, which are then not drawn at all.
        """
        side = size * self.SUPERSAMPLE
        cos_sin, zoom, trans = self._camera()
        scene, scene_colors = self._scene(cos_sin, zoom, trans, cull=tight_cull)
        car, car_colors = self._car_polygons(cos_sin, zoom, trans)
        parts = [(scene, scene_colors, True), (car, car_colors, True)]
        with_bar = rows > CROP_ROWS
        if with_bar:
            parts.append((*self._indicator_polygons(), False))
        canvas = np.zeros((side, side, 3), dtype=np.uint8)
        sx, sy = side / cr.WINDOW_W, side / (cr.WINDOW_H * rows / STATE_SIZE)
        scale = np.array([sx, sy]) * (1 << self._SHIFT)
        half = 0.5 * (1 << self._SHIFT)
        # the stock image is flipped vertically after the road and the car are
        # drawn: y -> WINDOW_H - y for those, not for the indicator bar.
        for window, colors, flipped in parts:
            if flipped:
                window[..., 1] = cr.WINDOW_H - window[..., 1]
            # cv2 fills a pixel whose centre (integer coordinates) is inside; pixel p
            # spans [p, p + 1) of the continuous canvas: shift by half a pixel.
            canvas_points = (window * scale - half).astype(np.int32)  # (P, V, 2) fixed point
            for points, color in zip(canvas_points, colors):
                cv2.fillConvexPoly(canvas, points, color, cv2.LINE_8, self._SHIFT)
        if with_bar:
            self._blit_reward(canvas, sx, sy)
        state = _halve(_halve(self._prefilter(canvas)))  # (size, size, 3): a 4x4 box average
        # pygame's smoothscale maps a flat colour v to max(v - 2, 0) (fixed-point
        # truncation); match it so flat regions agree exactly.
        return cv2.subtract(state, SMOOTHSCALE_BIAS)

    def _prefilter(self, canvas: np.ndarray) -> np.ndarray:
        """What the canvas goes through before the 4x4 box average (nothing here)."""
        return canvas

    def _car_polygons(self, cos_sin, zoom, trans):
        """Hull and wheel polygons and wheel stripes of ``Car.draw``.

        Returns (C, MAX_CAR_VERTICES, 2) window coordinates and C colours.
        """
        car = self.car
        cache = self.__dict__.get("_car_cache")
        if cache is None or cache[0] is not car:
            # body-frame vertices of every fixture, padded to a fixed vertex count
            local = [np.asarray([_pad(list(f.shape.vertices)) for f in obj.fixtures]) for obj in car.drawlist]
            colors = [[int(c * 255) for c in obj.color] for obj in car.drawlist]
            cache = self._car_cache = (car, local, colors)
        _, local, body_colors = cache
        polygons, colors = [], []
        for obj, vertices, color in zip(car.drawlist, local, body_colors):
            c, s = math.cos(obj.angle), math.sin(obj.angle)
            rot = np.array([[c, s], [-s, c]])  # row vectors: v @ rot == R v
            pos = np.array(obj.position)
            polygons.append(vertices @ rot + pos)  # (F, V, 2)
            colors += [color] * len(vertices)
            stripe = _wheel_stripe(obj.phase) if "phase" in obj.__dict__ else None
            if stripe is not None:
                polygons.append(np.asarray([_pad(stripe)]) @ rot + pos)
                colors.append(list(WHEEL_WHITE))
        world = np.concatenate(polygons)  # (C, MAX_CAR_VERTICES, 2)
        return transform(world, cos_sin, zoom, trans), colors

    def _indicator_polygons(self):
        """The indicator bar of ``CarRacing._render_indicators``: (I, 4, 2) window coords, colours."""
        W, H = cr.WINDOW_W, cr.WINDOW_H
        s, h = W / 40.0, H / 40.0
        car = self.car
        v = car.hull.linearVelocity
        true_speed = np.sqrt(np.square(v[0]) + np.square(v[1]))
        bars = [
            (true_speed, "v", 5, 0.02 * true_speed, (255, 255, 255)),
            (car.wheels[0].omega, "v", 7, 0.01 * car.wheels[0].omega, (0, 0, 255)),
            (car.wheels[1].omega, "v", 8, 0.01 * car.wheels[1].omega, (0, 0, 255)),
            (car.wheels[2].omega, "v", 9, 0.01 * car.wheels[2].omega, (51, 0, 255)),
            (car.wheels[3].omega, "v", 10, 0.01 * car.wheels[3].omega, (51, 0, 255)),
            (car.wheels[0].joint.angle, "h", 20, -10.0 * car.wheels[0].joint.angle, (0, 255, 0)),
            (car.hull.angularVelocity, "h", 30, -0.8 * car.hull.angularVelocity, (255, 0, 0)),
        ]
        polygons = [[(W, H), (W, H - 5 * h), (0, H - 5 * h), (0, H)]]
        colors = [[0, 0, 0]]
        for value, kind, place, val, color in bars:
            if abs(value) <= 1e-4:
                continue
            if kind == "v":
                x0, x1, y0, y1 = place * s, (place + 1) * s, H - (h + h * val), H - h
            else:
                x0, x1, y0, y1 = place * s, (place + val) * s, H - 4 * h, H - 2 * h
            # pygame.draw.polygon also fills the far boundary pixels: one pixel wider
            x0, x1 = min(x0, x1), max(x0, x1) + 1.0
            y0, y1 = min(y0, y1), max(y0, y1) + 1.0
            polygons.append([(x0, y0), (x1, y0), (x1, y1), (x0, y1)])
            colors.append(list(color))
        return np.asarray(polygons, dtype=np.float64), colors

    def _blit_reward(self, canvas: np.ndarray, sx: float, sy: float) -> None:
        """Paste the reward counter, downscaled once per distinct string and cached."""
        cache = self.__dict__.setdefault("_small_text_cache", {})
        label = f"{self.reward:04.0f}"
        if label not in cache:
            text = self._reward_text()
            rect = text.get_rect()
            rect.center = REWARD_TEXT_CENTER
            x0, y0 = round(rect.left * sx), round(rect.top * sy)
            x1, y1 = round(rect.right * sx), round(rect.bottom * sy)
            pixels = np.ascontiguousarray(pygame.surfarray.array3d(text).transpose(1, 0, 2))
            small = cv2.resize(pixels, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
            if len(cache) > 4096:
                cache.clear()
            cache[label] = (x0, y0, small)
        x0, y0, small = cache[label]
        canvas[y0 : y0 + small.shape[0], x0 : x0 + small.shape[1]] = small


class DirectCarRacing(FastCarRacing):
    """CarRacing whose state is V's input itself: the top 84 rows of the state (or all 96), drawn straight at
    ``frame_size`` x ``frame_size`` as the fast renderer draws, with no 96x96 image, crop or resize in between.

    The observation is what ``InputSpec(frame_size, crop)`` makes of a fast state, up to the resampling:
    one 4x4 box average here against a box average to 96 then an area resize there (tested against
    ``preprocess`` of stock states). Videos (``render()`` in ``rgb_array`` mode) use the exact path.
    """

    def __init__(self, *args, frame_size: int = 64, crop: bool = True, **kwargs):
        if frame_size == STATE_SIZE or frame_size < 8:
            raise ValueError(f"DirectCarRacing: frame_size={frame_size}; for {STATE_SIZE}x{STATE_SIZE} frames use the "
                             f"fast renderer, and frames need at least 8 pixels a side")
        super().__init__(*args, **kwargs)
        self.frame_size, self.crop = int(frame_size), bool(crop)
        self.observation_space = spaces.Box(0, 255, (self.frame_size, self.frame_size, 3), np.uint8)

    def _render_fast(self) -> np.ndarray:
        return self._draw(self.frame_size, CROP_ROWS if self.crop else STATE_SIZE)

    def _prefilter(self, canvas: np.ndarray) -> np.ndarray:
        """A 3x3 box blur, about one pixel of the 96x96 state on the canvas (2.7 x 3.0 canvas pixels at 64 and
        crop): the stock path averages over those pixels before its area resize, and a plain 4x4 box is sharper
        than that (its worst 4x4 patch was 21/255 from ``preprocess(stock)``, 13/255 with the blur)."""
        return cv2.blur(canvas, (3, 3))


def _halve(image: np.ndarray) -> np.ndarray:
    """(2H, 2W, C) -> (H, W, C) 2x2 mean (bilinear at exactly half size samples between the
    four pixels); two of these cost a quarter of one ``INTER_AREA`` resize by 4."""
    return cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_LINEAR)


def _pad(vertices: list) -> list:
    """Repeat the last vertex up to MAX_CAR_VERTICES (a convex fill ignores repeats)."""
    return vertices + [vertices[-1]] * (MAX_CAR_VERTICES - len(vertices))


def _wheel_stripe(phase: float):
    """The white stripe drawn on a wheel in ``Car.draw`` (body-frame polygon), or None."""
    a1, a2 = phase, phase + 1.2
    s1, s2, c1, c2 = math.sin(a1), math.sin(a2), math.cos(a1), math.cos(a2)
    if s1 > 0 and s2 > 0:
        return None
    if s1 > 0:
        c1 = np.sign(c1)
    if s2 > 0:
        c2 = np.sign(c2)
    return [
        (-WHEEL_W * SIZE, +WHEEL_R * c1 * SIZE),
        (+WHEEL_W * SIZE, +WHEEL_R * c1 * SIZE),
        (+WHEEL_W * SIZE, +WHEEL_R * c2 * SIZE),
        (-WHEEL_W * SIZE, +WHEEL_R * c2 * SIZE),
    ]
