"""Where each source goes on the canvas: a tile grid, or one source on the stage above a filmstrip.

Pure geometry, recomputed only when who is in, who speaks or who shares changes. Every rectangle is
even-aligned, because the canvas is YUV 4:2:0 and a tile must start and end on a chroma sample.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass


class Layout(enum.Enum):
    STAGE = "stage"  # the dominant speaker (or a screen share) large, everyone in a filmstrip below
    GRID = "grid"  # everyone in equal tiles; a screen share still takes the stage


class Fit(enum.Enum):
    COVER = "cover"  # fill the tile, cropping the overflow (tiles: faces fill them)
    CONTAIN = "contain"  # show the whole picture, letterboxed (the stage: a shared screen must not be cut)


@dataclass(frozen=True)
class Placement:
    endpoint_id: str
    screen_share: bool
    x: int
    y: int
    width: int
    height: int
    fit: Fit


MAX_TILES = 25  # 5x5: at 720p a tile is still 256x144, where a face and a name are readable
GAP = 4
FILMSTRIP_SHARE = 5  # the filmstrip takes a fifth of the height


def _even(value: float) -> int:
    return int(value) & ~1


def arrange(layout: Layout, width: int, height: int, participants: list[str], dominant: str | None,
            screen_share: str | None) -> list[Placement]:
    """Placements for `participants` (join order) on a `width` x `height` canvas.

    `screen_share` is the endpoint whose shared screen is shown (it then takes the stage whatever
    the layout); `dominant` is the dominant speaker, if known and still in.
    """
    if not participants:
        return []
    if screen_share is not None or layout is Layout.STAGE:
        return _stage(width, height, participants, dominant, screen_share)
    return _grid(width, height, _first(participants, dominant, MAX_TILES))


def _first(participants: list[str], dominant: str | None, count: int) -> list[str]:
    """At most `count` participants in join order, the dominant speaker always among them."""
    shown = participants[:count]
    if dominant is not None and dominant not in shown and dominant in participants:
        shown[-1] = dominant
    return shown


def _grid(width: int, height: int, shown: list[str]) -> list[Placement]:
    columns = math.ceil(math.sqrt(len(shown)))
    rows = math.ceil(len(shown) / columns)
    cell_w, cell_h = width / columns, height / rows
    tile_w, tile_h = _even(cell_w - GAP), _even(cell_h - GAP)
    placements = []
    for index, endpoint_id in enumerate(shown):
        row, column = divmod(index, columns)
        in_row = min(columns, len(shown) - row * columns)
        left = (width - in_row * cell_w) / 2  # a short last row is centred
        x = _even(left + column * cell_w + (cell_w - tile_w) / 2)
        y = _even(row * cell_h + (cell_h - tile_h) / 2)
        placements.append(Placement(endpoint_id, False, x, y, tile_w, tile_h, Fit.COVER))
    return placements


def _stage(width: int, height: int, participants: list[str], dominant: str | None,
           screen_share: str | None) -> list[Placement]:
    if screen_share is not None:
        on_stage = Placement(screen_share, True, 0, 0, width, height, Fit.CONTAIN)
    else:
        speaker = dominant if dominant in participants else participants[0]
        on_stage = Placement(speaker, False, 0, 0, width, height, Fit.CONTAIN)
    if len(participants) < 2 and screen_share is None:
        return [on_stage]
    strip_h = _even(height / FILMSTRIP_SHARE)
    tile_h = strip_h - GAP
    tile_w = _even(tile_h * 16 / 9)
    room = max(1, width // (tile_h + GAP))  # tiles may narrow down to squares, no further
    shown = _first(participants, dominant, room)
    tile_w = min(tile_w, _even(width / len(shown) - GAP))
    left = (width - len(shown) * (tile_w + GAP)) / 2
    top = height - strip_h + GAP // 2
    strip = [Placement(endpoint_id, False, _even(left + i * (tile_w + GAP) + GAP / 2), top, tile_w, tile_h, Fit.COVER)
             for i, endpoint_id in enumerate(shown)]
    stage = Placement(on_stage.endpoint_id, on_stage.screen_share, 0, 0, width, height - strip_h, Fit.CONTAIN)
    return [stage, *strip]
