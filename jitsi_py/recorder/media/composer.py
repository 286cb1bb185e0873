"""One output picture per tick: each placement gets its source's latest frame, scaled, or a placeholder.

Works on YUV 4:2:0 planes with numpy slices, the planes of the frame the encoder takes, so nothing
is converted twice. A source frame is scaled (swscale, outside the GIL) once per new frame or new
tile size, not once per tick; labels and placeholders come drawn from the painter's cache.
"""

from __future__ import annotations

import av
import numpy as np

from .layout import Fit, Placement
from .painter import Painter, Planes

BLACK = (16, 128, 128)  # limited-range YUV
LABEL_MARGIN = 6
NO_SCALE = 1.04  # a source at most this much larger than its tile is cropped, not scaled


def plane_views(frame: av.VideoFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The Y, U, V planes of a yuv420p frame as (writable) numpy views, padding cut off."""
    y, u, v = (np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width]
               for plane in frame.planes)
    return y, u, v


def _even(value: float) -> int:
    return max(2, int(value) & ~1)


class Composer:
    def __init__(self, width: int, height: int, painter: Painter | None = None):
        self.width, self.height = width, height
        self.painter = painter or Painter()
        # (endpoint, screen share) -> (source frame, tile size, fit, scaled frame, planes, offset)
        self._scaled: dict[tuple[str, bool], tuple] = {}

    def retain(self, keys: set[tuple[str, bool]]) -> None:
        """Drops the scaled pictures of sources no longer placed (a participant left, a share ended)."""
        for key in self._scaled.keys() - keys:
            del self._scaled[key]

    def render(self, placements: list[Placement], names: dict[str, str],
               frames: dict[tuple[str, bool], av.VideoFrame]) -> av.VideoFrame:
        out = av.VideoFrame(self.width, self.height, "yuv420p")
        y, u, v = plane_views(out)
        y[:] = BLACK[0]
        u[:] = BLACK[1]
        v[:] = BLACK[2]
        for placement in placements:
            name = names.get(placement.endpoint_id, "")
            source = frames.get((placement.endpoint_id, placement.screen_share))
            if source is not None:
                self._paste(y, u, v, placement, *self._scale(placement, source))
            elif not placement.screen_share:
                art = self.painter.placeholder(name, placement.width, placement.height)
                self._paste(y, u, v, placement, art, 0, 0)
            label = self.painter.label(name, placement.height, placement.width - 2 * LABEL_MARGIN)
            if label is not None:
                self._blend(y, u, v, label, placement.x + LABEL_MARGIN,
                            placement.y + placement.height - LABEL_MARGIN - label.y.shape[0])
        return out

    def _scale(self, placement: Placement, source: av.VideoFrame) -> tuple[Planes, int, int]:
        key = (placement.endpoint_id, placement.screen_share)
        size = (placement.width, placement.height, placement.fit)
        cached = self._scaled.get(key)
        if cached is not None and cached[0] is source and cached[1] == size:
            return cached[3], *cached[4]
        w, h = placement.width, placement.height
        sw, sh = source.width, source.height
        if placement.fit is Fit.COVER:
            if w <= sw <= w * NO_SCALE and h <= sh <= h * NO_SCALE and source.format.name == "yuv420p":
                tw, th, scaled = sw, sh, source  # nearly the tile's size (the bridge sent the layer asked for)
            else:
                factor = max(w / sw, h / sh)
                tw, th = max(w, _even(sw * factor + 1)), max(h, _even(sh * factor + 1))
                scaled = source.reformat(tw, th, "yuv420p")
            crop_x, crop_y = ((tw - w) // 2) & ~1, ((th - h) // 2) & ~1
            sy, su, sv = plane_views(scaled)
            planes = Planes(sy[crop_y:crop_y + h, crop_x:crop_x + w],
                            su[crop_y // 2:(crop_y + h) // 2, crop_x // 2:(crop_x + w) // 2],
                            sv[crop_y // 2:(crop_y + h) // 2, crop_x // 2:(crop_x + w) // 2])
            offset = (0, 0)
        else:
            factor = min(w / sw, h / sh)
            tw, th = min(w, _even(sw * factor)), min(h, _even(sh * factor))
            scaled = source.reformat(tw, th, "yuv420p")
            planes = Planes(*plane_views(scaled))
            offset = (((w - tw) // 2) & ~1, ((h - th) // 2) & ~1)
        # the scaled frame stays referenced: the views point into its buffers
        self._scaled[key] = (source, size, scaled, planes, offset)
        return planes, *offset

    @staticmethod
    def _paste(y, u, v, placement: Placement, planes: Planes, dx: int, dy: int) -> None:
        x0, y0 = placement.x + dx, placement.y + dy
        h, w = planes.y.shape
        y[y0:y0 + h, x0:x0 + w] = planes.y
        u[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2] = planes.u
        v[y0 // 2:(y0 + h) // 2, x0 // 2:(x0 + w) // 2] = planes.v

    @staticmethod
    def _blend(y, u, v, label: Planes, x0: int, y0: int) -> None:
        x0, y0 = x0 & ~1, max(0, y0) & ~1
        for target, art, alpha, (top, left) in ((y, label.y, label.alpha, (y0, x0)),
                                                (u, label.u, label.alpha_half, (y0 // 2, x0 // 2)),
                                                (v, label.v, label.alpha_half, (y0 // 2, x0 // 2))):
            ah, aw = art.shape
            region = target[top:top + ah, left:left + aw]
            if region.shape != art.shape:
                return  # a tile too small for its label: left without one
            region[:] = region + (art.astype(np.float32) - region) * alpha
