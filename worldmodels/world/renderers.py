"""The renderers that replace CarRacing's pygame drawing of the 96x96 state.

``exact``  the same pygame drawing calls on the same 1000x800 surface, but the ~730 polygon transforms
           and off-screen culls are done at once in numpy, the Font and the reward text are cached. Frames
           are bit-identical to stock (tested).
``fast``   the state is drawn with OpenCV on a 384x384 canvas (4x4 samples per output pixel; the camera, the
           vertical flip and the canvas scale in one affine map) and box-averaged to 96x96. Same scene, same
           colours, same draw order; edges differ by sub-pixel amounts from pygame's rasteriser (mean absolute
           difference well under 1/255 per pixel, tested). ``render()`` for videos (``rgb_array``) still uses the exact path.
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
from .geometry import field_polygon, grass_polygons, near_window, padded_cull, rotation, transform

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

    def _scene(self, cos_sin, zoom, trans):
        """Background, grass and road in stock draw order, culled as stock culls (``padded_cull``); only
        polygons whose bounding circle can reach the padded window are transformed in full and tested.

        Returns:
            polygons: float64 (P, 4, 2) window coordinates (before the vertical flip).
            colors: P lists of 3 ints, truncated from the stock colours as stock does.
        """
        points, colors, centers, radii = self._static_polygons()
        near = np.flatnonzero(near_window(transform(centers, cos_sin, zoom, trans), radii * zoom))
        window = transform(points[near], cos_sin, zoom, trans)  # (P', 4, 2)
        keep = np.flatnonzero(padded_cull(window))
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
        reward counter below them, which are then not drawn at all. World polygons go to the canvas in one
        affine map (``_canvas_affine``: the camera, the vertical flip and the canvas scale together).
        """
        side = size * self.SUPERSAMPLE
        cos_sin, zoom, trans = self._camera()
        affine = self._canvas_affine(cos_sin, zoom, trans, side, rows)
        canvas = self._background(side, affine, zoom)
        for polygons, colors in (self._scene_on_canvas(affine, side), self._car_polygons(affine)):
            for points, color in zip(polygons, colors):
                cv2.fillConvexPoly(canvas, points, color, cv2.LINE_8, self._SHIFT)
        if rows > CROP_ROWS:
            sx, sy = side / cr.WINDOW_W, side / (cr.WINDOW_H * rows / STATE_SIZE)
            # the indicator bar is drawn after the flip: window coordinates map straight to the canvas
            bar, colors = self._indicator_polygons()
            scale, half = np.array([sx, sy]) * (1 << self._SHIFT), 0.5 * (1 << self._SHIFT)
            for points, color in zip((bar * scale - half).astype(np.int32), colors):
                cv2.fillConvexPoly(canvas, points, color, cv2.LINE_8, self._SHIFT)
            self._blit_reward(canvas, sx, sy)
        state = self._downsample(canvas)  # (size, size, 3)
        # pygame's smoothscale maps a flat colour v to max(v - 2, 0) (fixed-point
        # truncation); match it so flat regions agree exactly.
        return cv2.subtract(state, SMOOTHSCALE_BIAS)

    def _downsample(self, canvas: np.ndarray) -> np.ndarray:
        """The canvas (4 size, 4 size, 3) -> (size, size, 3): a 4x4 box average."""
        return _halve(_halve(canvas))

    def _canvas_affine(self, cos_sin, zoom, trans, side: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """World coordinates -> cv2's fixed-point canvas coordinates: ``canvas = world @ M + b``.

        The stock camera (rotate, zoom, translate to window pixels), then the flip of the window's y axis
        that stock applies after drawing the road and the car, then the window's top ``rows`` of 96 scaled to
        ``side`` canvas pixels, shifted by half a pixel: cv2 fills a pixel whose centre (integer coordinates)
        is inside, and pixel p spans [p, p + 1) of the continuous canvas.

        Returns:
            M float64 (2, 2), b float64 (2,), in units of 1 / 2**_SHIFT canvas pixels.
        """
        c, s = cos_sin
        one = 1 << self._SHIFT
        sx, sy = side / cr.WINDOW_W * one, side / (cr.WINDOW_H * rows / STATE_SIZE) * one
        M = np.array([[c * zoom * sx, -s * zoom * sy], [-s * zoom * sx, -c * zoom * sy]])
        b = np.array([trans[0] * sx - 0.5 * one, (cr.WINDOW_H - trans[1]) * sy - 0.5 * one])
        return M, b

    def _background(self, side: int, affine, zoom: float) -> np.ndarray:
        """The canvas filled with the playfield's colour, black beyond the playfield's edge.

        The playfield square is filled as a polygon only when the view may reach past it: the window
        lies within hypot(W, H) / zoom world units of the car.
        """
        bg = np.asarray(self.bg_color, dtype=np.float64).astype(np.int64)
        reach = math.hypot(cr.WINDOW_W, cr.WINDOW_H) / max(zoom, 1e-6)
        x, y = self.car.hull.position
        if max(abs(x), abs(y)) + reach < cr.PLAYFIELD:
            key = (side, *bg.tolist())
            if self.__dict__.get("_flat_canvas", (None,))[0] != key:  # numpy fills (side, side, 3) slowly
                flat = np.empty((side, side, 3), dtype=np.uint8)
                flat[:] = bg.astype(np.uint8)
                self._flat_canvas = (key, flat)
            return self._flat_canvas[1].copy()
        canvas = np.zeros((side, side, 3), dtype=np.uint8)
        M, b = affine
        cv2.fillConvexPoly(canvas, (self._field[0] @ M + b).astype(np.int32), bg.tolist(), cv2.LINE_8, self._SHIFT)
        return canvas

    def _scene_on_canvas(self, affine, side: int) -> tuple[np.ndarray, list]:
        """Grass and road polygons that may reach the canvas, in stock draw order.

        A polygon is kept if its bounding circle meets the canvas (a few just outside a corner are drawn too,
        clipped by cv2).

        Returns:
            int32 (P, 4, 2) fixed-point canvas coordinates, P colours (lists of 3 ints, truncated as stock does).
        """
        points, colors, centers, radii = self._static_polygons()
        M, b = affine
        ends = centers @ M + b  # (G + R, 2)
        reach = (radii * np.linalg.norm(M, axis=0).max())[:, None]  # (G + R, 1): the radii on the canvas
        limit = side << self._SHIFT
        keep = np.flatnonzero(((ends + reach >= 0) & (ends - reach <= limit)).all(axis=1))
        rgb = np.asarray([colors[i] for i in keep], dtype=np.float64).reshape(-1, 3)
        return (points[keep] @ M + b).astype(np.int32), rgb.astype(np.int64).tolist()

    def _car_polygons(self, affine) -> tuple[np.ndarray, list]:
        """Wheels, wheel stripes and hull of ``Car.draw``, on the canvas.

        Stock draws each wheel then its stripe, then the hull; the wheels do not overlap, so drawing every
        wheel, then every stripe, then the hull paints the same pixels.

        Returns:
            int32 (C, MAX_CAR_VERTICES, 2) fixed-point canvas coordinates and C colours.
        """
        car = self.car
        cache = self.__dict__.get("_car_cache")
        if cache is None or cache[0] is not car:
            # body-frame vertices of every fixture, padded to a fixed vertex count, wheels' fixtures first
            fixtures = [(k, obj, f) for k, obj in enumerate(car.drawlist) for f in obj.fixtures]
            fixtures.sort(key=lambda item: "phase" not in item[1].__dict__)  # stable: wheels, then the hull
            local = np.asarray([_pad(list(f.shape.vertices)) for _, _, f in fixtures])  # (F, V, 2)
            owner = np.asarray([k for k, _, _ in fixtures])  # (F,) index in car.drawlist
            colors = [[int(c * 255) for c in obj.color] for _, obj, _ in fixtures]
            wheels = [k for k, obj in enumerate(car.drawlist) if "phase" in obj.__dict__]
            cache = self._car_cache = (car, local, owner, colors, wheels, int(np.isin(owner, wheels).sum()))
        _, local, owner, colors, wheels, n = cache
        stripes = [(k, _wheel_stripe(car.drawlist[k].phase)) for k in wheels]
        stripes = [(k, _pad(stripe)) for k, stripe in stripes if stripe is not None]
        if stripes:  # after the n wheel fixtures, before the hull
            local = np.concatenate([local[:n], np.asarray([v for _, v in stripes]), local[n:]])
            owner = np.concatenate([owner[:n], [k for k, _ in stripes], owner[n:]])
            colors = colors[:n] + [list(WHEEL_WHITE)] * len(stripes) + colors[n:]
        (m00, m01), (m10, m11) = affine[0].tolist()
        b0, b1 = affine[1].tolist()
        maps = []  # per body: its frame -> canvas, (a00, a01, a10, a11, t0, t1) with canvas = v @ a + t
        for obj in car.drawlist:
            c, s = math.cos(obj.angle), math.sin(obj.angle)
            x, y = obj.position
            maps.append((c * m00 + s * m10, c * m01 + s * m11, c * m10 - s * m00, c * m11 - s * m01,
                         x * m00 + y * m10 + b0, x * m01 + y * m11 + b1))
        maps = np.asarray(maps)[owner]  # (C, 6)
        canvas = np.einsum("cvi,cij->cvj", local, maps[:, :4].reshape(-1, 2, 2)) + maps[:, None, 4:]
        return canvas.astype(np.int32), colors

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
    a 3x3 blur and a 4x4 box average here against a box average to 96 then an area resize there (tested against
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

    def _downsample(self, canvas: np.ndarray) -> np.ndarray:
        """The canvas (4 size, 4 size, 3) -> (size, size, 3): a 3x3 box blur, then the 4x4 box average.

        The blur is about one pixel of the 96x96 state on the canvas (2.7 x 3.0 canvas pixels at 64 and
        crop): the stock path averages over those pixels before its area resize, and a plain 4x4 box is
        sharper than that (its worst 4x4 patch was 21/255 from ``preprocess(stock)``, 13/255 with the blur).
        """
        return _halve(_halve(cv2.blur(canvas, (3, 3))))


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
