import pytest

from jitsi_py.recorder.media.layout import MAX_TILES, Fit, Layout, arrange


def overlaps(a, b) -> bool:
    return a.x < b.x + b.width and b.x < a.x + a.width and a.y < b.y + b.height and b.y < a.y + a.height


def inside(p, width, height) -> bool:
    return 0 <= p.x and 0 <= p.y and p.x + p.width <= width and p.y + p.height <= height


@pytest.mark.parametrize("count", [1, 2, 3, 4, 5, 7, 9, 10, 16, 25])
def test_grid_tiles_everyone_without_overlap_on_even_coordinates(count):
    people = [f"p{i}" for i in range(count)]
    placements = arrange(Layout.GRID, 1280, 720, people, None, None)
    assert [p.endpoint_id for p in placements] == people
    for p in placements:
        assert inside(p, 1280, 720) and p.fit is Fit.COVER
        assert p.x % 2 == p.y % 2 == p.width % 2 == p.height % 2 == 0
    assert not any(overlaps(a, b) for i, a in enumerate(placements) for b in placements[i + 1:])
    # tiles are equal
    assert len({(p.width, p.height) for p in placements}) == 1


def test_grid_keeps_the_dominant_speaker_when_too_many_for_tiles():
    people = [f"p{i}" for i in range(MAX_TILES + 5)]
    placements = arrange(Layout.GRID, 1280, 720, people, "p29", None)
    assert len(placements) == MAX_TILES
    assert "p29" in {p.endpoint_id for p in placements}


def test_stage_puts_the_dominant_speaker_large_and_everyone_in_the_filmstrip():
    stage, *strip = arrange(Layout.STAGE, 1280, 720, ["a", "b", "c"], "b", None)
    assert stage.endpoint_id == "b" and stage.fit is Fit.CONTAIN and not stage.screen_share
    assert stage.width * stage.height > 10 * max(p.width * p.height for p in strip)
    assert [p.endpoint_id for p in strip] == ["a", "b", "c"]
    assert all(p.y >= stage.y + stage.height and inside(p, 1280, 720) for p in strip)


def test_stage_without_a_known_speaker_shows_the_first_and_alone_has_no_filmstrip():
    assert arrange(Layout.STAGE, 640, 360, ["a", "b"], "gone", None)[0].endpoint_id == "a"
    only = arrange(Layout.STAGE, 640, 360, ["a"], None, None)
    assert len(only) == 1 and (only[0].width, only[0].height) == (640, 360)


@pytest.mark.parametrize("layout", list(Layout))
def test_a_screen_share_takes_the_stage_in_both_layouts(layout):
    stage, *strip = arrange(layout, 1280, 720, ["a", "b"], "b", "a")
    assert (stage.endpoint_id, stage.screen_share, stage.fit) == ("a", True, Fit.CONTAIN)
    assert {p.endpoint_id for p in strip} == {"a", "b"} and not any(p.screen_share for p in strip)


def test_filmstrip_narrows_then_leaves_out_rather_than_shrinking_to_nothing():
    people = [f"p{i}" for i in range(40)]
    stage, *strip = arrange(Layout.STAGE, 1280, 720, people, "p39", None)
    assert 1 < len(strip) < 40 and "p39" in {p.endpoint_id for p in strip}
    assert min(p.width for p in strip) >= strip[0].height - 2
    assert not any(overlaps(a, b) for i, a in enumerate(strip) for b in strip[i + 1:])


def test_nobody_means_nothing_placed():
    assert arrange(Layout.GRID, 1280, 720, [], None, None) == []
