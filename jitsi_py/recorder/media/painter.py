"""What Pillow draws: name labels and the placeholder of a participant without video.

Each drawing is made once per (name, size) and kept as YUV 4:2:0 planes (plus an alpha mask for a
label), so a frame only copies or blends small arrays; a rename or a new tile size draws again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFont

FONT_PATHS = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
)
# Avatar backgrounds, picked by a hash of the name so a participant keeps one colour.
AVATAR_COLOURS = ((106, 80, 211), (0, 133, 119), (196, 67, 88), (214, 126, 0), (38, 110, 182), (117, 117, 117))
TILE_BACKGROUND = (41, 41, 41)
LABEL_BACKGROUND = (0, 0, 0, 160)
CACHE_BYTES = 32 * 2**20  # a stage-sized placeholder is ~1 MB at 720p


@dataclass(frozen=True)
class Planes:
    """A picture as YUV 4:2:0: luma (h, w), chroma (h/2, w/2) each; alpha masks as floats 0..1 or None."""

    y: np.ndarray
    u: np.ndarray
    v: np.ndarray
    alpha: np.ndarray | None = None
    alpha_half: np.ndarray | None = None


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in FONT_PATHS:
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def to_planes(image: Image.Image) -> Planes:
    """An RGB(A) image (even size) as YUV 4:2:0 planes, converted by swscale as the video frames are."""
    frame = av.VideoFrame.from_image(image.convert("RGB")).reformat(format="yuv420p")
    y, u, v = (np.frombuffer(memoryview(plane), np.uint8).reshape(plane.height, plane.line_size)[:, :plane.width].copy()
               for plane in frame.planes)
    if image.mode != "RGBA":
        return Planes(y, u, v)
    alpha = np.asarray(image.getchannel("A"), np.float32) / 255.0
    return Planes(y, u, v, alpha, alpha[::2, ::2].copy())


def initials(name: str) -> str:
    words = [w for w in name.split() if w[:1].isalnum()]
    return "".join(w[0] for w in words[:2]).upper() or "?"


class Painter:
    """Draws and caches labels and placeholders; one per pipeline, used only by its worker thread."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Planes] = {}
        self._bytes = 0

    def _cached(self, key: tuple, draw) -> Planes:
        planes = self._cache.get(key)
        if planes is None:
            planes = draw()
            size = planes.y.nbytes * 3 // 2
            if self._bytes + size > CACHE_BYTES:
                self._cache.clear()  # names and tile sizes change rarely: a refill is cheap
                self._bytes = 0
            self._cache[key] = planes
            self._bytes += size
        return planes

    def label(self, name: str, tile_height: int, max_width: int) -> Planes | None:
        """The name on a translucent dark box, sized for a tile of that height, or None if it cannot fit."""
        size = max(10, min(24, tile_height // 12))
        if max_width < size * 3 or not name:
            return None
        return self._cached(("label", name, size, max_width), lambda: self._draw_label(name, size, max_width))

    def _draw_label(self, name: str, size: int, max_width: int) -> Planes:
        font = _font(size)
        pad = size // 2
        kept, text = name, name
        while len(kept) > 1 and font.getlength(text) + 2 * pad > max_width:
            kept = kept[:-1]
            text = kept + "…"
        width = int(font.getlength(text)) + 2 * pad
        height = size + 2 * pad
        width, height = width + width % 2, height + height % 2
        image = Image.new("RGBA", (width, height), LABEL_BACKGROUND)
        ImageDraw.Draw(image).text((pad, pad + size // 2), text, font=font, fill=(255, 255, 255, 255), anchor="lm")
        return to_planes(image)

    def placeholder(self, name: str, width: int, height: int) -> Planes:
        """A tile without video: the avatar colour in a circle with the initials, on the tile background."""
        return self._cached(("placeholder", name, width, height), lambda: self._draw_placeholder(name, width, height))

    def _draw_placeholder(self, name: str, width: int, height: int) -> Planes:
        image = Image.new("RGB", (width, height), TILE_BACKGROUND)
        draw = ImageDraw.Draw(image)
        diameter = max(8, min(width, height) * 2 // 5)
        cx, cy = width // 2, height // 2
        colour = AVATAR_COLOURS[hashlib.sha1(name.encode()).digest()[0] % len(AVATAR_COLOURS)]
        draw.ellipse((cx - diameter // 2, cy - diameter // 2, cx + diameter // 2, cy + diameter // 2), fill=colour)
        draw.text((cx, cy), initials(name), font=_font(max(6, diameter * 2 // 5)), fill=(255, 255, 255), anchor="mm")
        return to_planes(image)
