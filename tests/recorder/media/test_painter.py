import numpy as np

from jitsi_py.recorder.media.painter import CACHE_BYTES, Painter, initials


def test_initials():
    assert initials("Dana Katherine Scully") == "DK"
    assert initials("  fox  ") == "F"
    assert initials("") == "?" and initials("(guest)") == "?"


def test_a_label_is_drawn_once_and_fits_its_tile():
    painter = Painter()
    label = painter.label("Somebody With A Very Long Display Name Indeed", tile_height=180, max_width=150)
    assert label is painter.label("Somebody With A Very Long Display Name Indeed", 180, 150)
    assert label.y.shape[1] <= 150 and label.y.shape[0] % 2 == 0 and label.y.shape[1] % 2 == 0
    assert label.alpha.shape == label.y.shape and label.alpha_half.shape == label.u.shape
    assert label.y.std() > 10  # text on the box
    assert painter.label("Ann", tile_height=180, max_width=10) is None  # no room: no label


def test_a_placeholder_shows_initials_on_an_avatar_and_keeps_the_colour_per_name():
    painter = Painter()
    first = painter.placeholder("Dana Scully", 320, 180)
    assert first.y.shape == (180, 320) and first.u.shape == (90, 160)
    centre = first.y[60:120, 130:190]
    assert centre.std() > 10  # the letters
    assert np.array_equal(painter.placeholder("Dana Scully", 320, 180).u, first.u)


def test_the_cache_is_bounded_in_bytes():
    painter = Painter()
    for i in range(40):
        painter.placeholder(f"p{i}", 1280, 720)
    assert painter._bytes <= CACHE_BYTES
