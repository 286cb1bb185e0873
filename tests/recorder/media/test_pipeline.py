"""Recordings of synthetic participants, checked by ffprobe, decoded pixels and the audio's spectrum."""

import asyncio
import time

import pytest

from jitsi_py.recorder.media import EncodeSettings, Layout, Pipeline, RecordingFailed
from jitsi_py.recorder.media.composer import LABEL_MARGIN
from jitsi_py.recorder.media.layout import arrange
from tests.support.media_checks import (
    Participant,
    feed,
    frame_at,
    is_uniform,
    mean_colour,
    near,
    probe,
    solid_frame,
    tones,
)

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)
SMALL = EncodeSettings(width=640, height=360, framerate=30, preset="veryfast", crf=25)


def rect(p):
    return p.x, p.y, p.width, p.height


def label_rect(p, height=24):
    return p.x + LABEL_MARGIN, p.y + p.height - LABEL_MARGIN - height, 60, height


async def record(pipe: Pipeline, participants: dict, seconds: float, names: dict | None = None) -> float:
    for eid in participants:
        pipe.add_participant(eid, (names or {}).get(eid, f"Person {eid.upper()}"))
    await pipe.start()
    await feed(pipe, participants, seconds)
    return await pipe.stop()


async def test_a_grid_recording_shows_everyone_with_names_and_mixes_everyone(tmp_path):
    path = tmp_path / "abc" / "room_2026-12-07-06-00-00.mp4"
    settings = EncodeSettings(width=1280, height=720, framerate=30)
    pipe = Pipeline(str(path), settings, layout="grid")
    people = {"a": Participant(RED, tone=440), "b": Participant(GREEN, tone=1000),
              "c": Participant(BLUE, tone=2500), "d": Participant(None)}
    duration = await record(pipe, people, 3.0, names={"d": "Dana Scully"})

    assert not pipe.failed.done()
    assert abs(duration - 3.0) < 0.3
    info = probe(path)
    assert (info["video"], info["audio"], info["width"], info["height"]) == ("h264", "aac", 1280, 720)
    assert abs(info["duration"] - 3.0) <= 0.3
    picture = frame_at(path, 2.0)
    tiles = {p.endpoint_id: p for p in arrange(Layout.GRID, 1280, 720, list(people), None, None)}
    for eid, colour in (("a", RED), ("b", GREEN), ("c", BLUE)):
        assert near(mean_colour(picture, rect(tiles[eid])), colour), eid
        assert not is_uniform(picture, label_rect(tiles[eid])), f"no name drawn on {eid}"
    placeholder = mean_colour(picture, rect(tiles["d"]))
    assert not any(near(placeholder, c) for c in (RED, GREEN, BLUE))
    assert not is_uniform(picture, rect(tiles["d"]))  # the initials on the avatar
    assert tones(path, [440, 1000, 2500, 700, 1800]) == {440, 1000, 2500}


async def test_the_stage_follows_the_dominant_speaker(tmp_path):
    path = tmp_path / "stage.mp4"
    pipe = Pipeline(str(path), SMALL, layout=Layout.STAGE)
    people = {"a": Participant(RED), "b": Participant(GREEN)}
    for eid in people:
        pipe.add_participant(eid, eid)
    await pipe.start()
    pipe.dominant_speaker("b")
    await feed(pipe, people, 1.5)
    pipe.dominant_speaker("a")
    await feed(pipe, people, 1.5)
    await pipe.stop()

    stage_b, *strip = arrange(Layout.STAGE, 640, 360, ["a", "b"], "b", None)
    assert near(mean_colour(frame_at(path, 1.0), rect(stage_b)), GREEN)
    assert near(mean_colour(frame_at(path, 2.5), rect(stage_b)), RED)
    filmstrip = frame_at(path, 2.5)
    assert [near(mean_colour(filmstrip, rect(p)), c) for p, c in zip(strip, (RED, GREEN))] == [True, True]


async def test_a_screen_share_is_shown_big_and_leaves_when_it_stops(tmp_path):
    path = tmp_path / "share.mp4"
    pipe = Pipeline(str(path), SMALL, layout="grid")
    people = {"a": Participant(RED), "b": Participant(GREEN)}
    for eid in people:
        pipe.add_participant(eid, eid)
    await pipe.start()
    with_share = dict(people, a=Participant(RED))
    share = solid_frame(WHITE, (1280, 720))
    start = time.monotonic()
    while time.monotonic() - start < 1.5:
        pipe.video("a", share, screen_share=True)
        await feed(pipe, with_share, 0.1)
    await feed(pipe, people, 3.0)  # no more share frames: after 2 s it leaves the stage
    await pipe.stop()

    stage, *strip = arrange(Layout.GRID, 640, 360, ["a", "b"], None, "a")
    shared = frame_at(path, 1.0)
    assert near(mean_colour(shared, rect(stage)), WHITE)
    assert [near(mean_colour(shared, rect(p)), c) for p, c in zip(strip, (RED, GREEN))] == [True, True]
    grid = {p.endpoint_id: p for p in arrange(Layout.GRID, 640, 360, ["a", "b"], None, None)}
    after = frame_at(path, 4.2)
    assert near(mean_colour(after, rect(grid["a"])), RED) and near(mean_colour(after, rect(grid["b"])), GREEN)


async def test_a_participant_who_leaves_leaves_the_picture_and_a_rename_redraws_the_name(tmp_path):
    path = tmp_path / "leave.mp4"
    pipe = Pipeline(str(path), SMALL, layout="grid")
    people = {"a": Participant(RED), "b": Participant(GREEN)}
    for eid in people:
        pipe.add_participant(eid, "Ann")
    await pipe.start()
    await feed(pipe, people, 1.0)
    pipe.rename("a", "Somebody With A Much Longer Name")
    pipe.remove_participant("b")
    await feed(pipe, people, 1.0)  # b's frames after leaving are ignored
    await pipe.stop()

    before = frame_at(path, 0.8)
    two = {p.endpoint_id: p for p in arrange(Layout.GRID, 640, 360, ["a", "b"], None, None)}
    (alone,) = arrange(Layout.GRID, 640, 360, ["a"], None, None)
    after = frame_at(path, 1.8)
    assert near(mean_colour(after, rect(alone)), RED)
    label = (alone.x + LABEL_MARGIN, alone.y + alone.height - LABEL_MARGIN - 20, 200, 20)
    assert is_uniform(before[:, :, 0:1], (two["a"].x + 120, label[1], 60, 20))  # short name: red there
    assert not is_uniform(after, label)


async def test_a_full_disk_fails_the_recording_with_a_reason(tmp_path):
    pipe = Pipeline("/dev/full", SMALL)  # every write: ENOSPC
    pipe.add_participant("a", "A")
    try:
        await pipe.start()
    except RecordingFailed as exc:  # the header may already not fit
        failure = exc
    else:
        feeding = asyncio.ensure_future(feed(pipe, {"a": Participant(RED, tone=440)}, 10))
        failure = await asyncio.wait_for(asyncio.shield(pipe.failed), 10)
        feeding.cancel()
    assert "disk full" in failure.reason
    assert pipe.failed.done() and pipe.failed.result() is failure
    await asyncio.wait_for(pipe.stop(), 15)


async def test_an_unknown_scheme_is_refused_at_construction():
    with pytest.raises(ValueError, match="scheme"):
        Pipeline("srt://127.0.0.1:9000", SMALL)


async def test_an_unreachable_rtmp_server_fails_start_quickly(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        pipe = Pipeline(f"rtmp://127.0.0.1:{sock.getsockname()[1]}/live/secretkey", SMALL)
        started = time.monotonic()
        with pytest.raises(RecordingFailed) as caught:
            await pipe.start()
    assert time.monotonic() - started < 2
    assert pipe.failed.done() and pipe.failed.result() is caught.value
    assert "connection refused" in caught.value.reason and "secretkey" not in caught.value.reason
    assert await pipe.stop() == 0.0


async def test_the_event_loop_does_only_the_small_work(tmp_path):
    """Composing and encoding happen off the loop: its thread's CPU time stays a small share of the
    recording (CPU time, not loop lag, so a loaded machine does not make this flaky)."""
    pipe = Pipeline(str(tmp_path / "loop.mp4"), EncodeSettings(width=1280, height=720))
    people = {k: Participant(c, tone=300) for k, c in zip("abcd", (RED, GREEN, BLUE, WHITE))}
    for eid in people:
        pipe.add_participant(eid, eid)
    await pipe.start()
    loop_cpu = time.thread_time()
    await feed(pipe, people, 3.0)
    loop_cpu = time.thread_time() - loop_cpu
    await pipe.stop()
    assert loop_cpu < 0.1 * 3.0, f"the loop's thread spent {loop_cpu:.2f} s of CPU in 3 s"
