"""Live streaming into a real RTMP server (Debian's nginx with the rtmp module), which records what it got."""

import asyncio

import pytest

from jitsi_py.recorder.media import EncodeSettings, Layout, Pipeline
from jitsi_py.recorder.media.layout import arrange
from tests.support.media_checks import Participant, feed, frame_at, mean_colour, near, probe, tones
from tests.support.rtmp import NginxRtmp, TlsFront

pytestmark = pytest.mark.system

RED, BLUE = (255, 0, 0), (0, 0, 255)
STREAM = EncodeSettings(width=640, height=360, framerate=30, preset="veryfast", crf=25, video_bitrate=2_976_000)


@pytest.fixture
def nginx(tmp_path):
    with NginxRtmp(tmp_path) as server:
        yield server


async def stream(url: str, seconds: float) -> Pipeline:
    pipe = Pipeline(url, STREAM, layout="grid")
    people = {"a": Participant(RED, tone=440), "b": Participant(BLUE, tone=1000)}
    for eid in people:
        pipe.add_participant(eid, eid)
    await pipe.start()
    await feed(pipe, people, seconds)
    duration = await pipe.stop()
    assert not pipe.failed.done(), pipe.failed.result().reason
    assert abs(duration - seconds) < 0.3
    return pipe


def check_recorded(path, seconds: float) -> None:
    info = probe(path)
    assert (info["format"], info["video"], info["audio"]) == ("flv", "h264", "aac")
    assert abs(info["duration"] - seconds) <= 0.3
    picture = frame_at(path, seconds / 2)
    tiles = {p.endpoint_id: p for p in arrange(Layout.GRID, 640, 360, ["a", "b"], None, None)}
    for eid, colour in (("a", RED), ("b", BLUE)):
        tile = tiles[eid]
        assert near(mean_colour(picture, (tile.x, tile.y, tile.width, tile.height)), colour)
    assert tones(path, [440, 1000, 700]) == {440, 1000}


async def test_a_stream_reaches_the_rtmp_server_whole(nginx):
    await stream(nginx.url("key1"), 3.0)
    check_recorded(await asyncio.to_thread(nginx.recording, "key1"), 3.0)


async def test_rtmps_goes_through_tls(nginx, tmp_path):
    with TlsFront(tmp_path, nginx.port) as front:
        await stream(front.url("key2"), 3.0)
    check_recorded(await asyncio.to_thread(nginx.recording, "key2"), 3.0)


async def test_the_server_going_away_fails_the_stream_with_a_reason(nginx):
    pipe = Pipeline(nginx.url("key3"), STREAM)
    pipe.add_participant("a", "A")
    await pipe.start()
    feeding = asyncio.ensure_future(feed(pipe, {"a": Participant(RED, tone=440)}, 20))
    await asyncio.sleep(1.0)
    nginx.__exit__()
    failure = await asyncio.wait_for(asyncio.shield(pipe.failed), 15)
    feeding.cancel()
    assert failure.reason.startswith("cannot write to rtmp://127.0.0.1:"), failure.reason
    assert "key3" not in failure.reason and failure.retryable
    assert 0 < await asyncio.wait_for(pipe.stop(), 20) < 15  # what reached the server before
