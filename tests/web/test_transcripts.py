"""/transcripts/: the transcriber's directory served read-only, and nothing else reached through it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import aiohttp

from jitsi_py.transcriber.results import advertisement, transcript_header, transcript_name
from jitsi_py.transcriber.session import Transcript
from jitsi_py.web.transcripts import content_type, locate, requested

from ..support.stack import running_stack

MEETING = "2026-12-07T13-05-09Z_5f0c_0a1b"


def test_a_request_names_plain_files_only():
    assert requested(f"/transcripts/{MEETING}/transcript.txt") == (MEETING, "transcript.txt")
    assert requested(f"/transcripts/{MEETING}/transcript.txt?v=1") == (MEETING, "transcript.txt")
    assert requested("/transcripts/caf%C3%A9.txt") == ("café.txt",)
    for bad in ("/transcripts/", f"/transcripts/{MEETING}/", "/transcripts/../cfg/x", "/transcripts/a/../b",
                "/transcripts/%2e%2e/x", "/transcripts/%2E%2E%2Fx", "/transcripts/a%2Fb", "/transcripts/a%2fb",
                "/transcripts/a%5Cb", "/transcripts/a%00b", "/transcripts/%ff", "/transcripts//etc/passwd",
                "/transcripts/./a", "/transcripts/.hidden", "/other/a"):
        assert requested(bad) is None, bad


def test_only_regular_files_inside_the_directory_are_found(tmp_path):
    root = tmp_path / "transcripts"
    (root / MEETING).mkdir(parents=True)
    (root / MEETING / "t.txt").write_text("hi")
    (tmp_path / "secret.txt").write_text("no")
    (root / MEETING / "out.txt").symlink_to(tmp_path / "secret.txt")
    (root / MEETING / "in.txt").symlink_to(root / MEETING / "t.txt")
    (root / MEETING / "loop.txt").symlink_to(root / MEETING / "loop.txt")
    assert locate(root, (MEETING, "t.txt")) == (root / MEETING / "t.txt").resolve()
    assert locate(root, (MEETING, "in.txt")) == (root / MEETING / "t.txt").resolve()
    for names in ((MEETING,), (MEETING, "out.txt"), (MEETING, "loop.txt"), (MEETING, "nope.txt"), ("x" * 5000,)):
        assert locate(root, names) is None, names[-1][:20]
    assert locate(tmp_path / "absent", ("t.txt",)) is None


def test_content_types_are_those_of_what_the_transcriber_writes():
    assert content_type("transcript_x.txt") == "text/plain; charset=utf-8"
    assert content_type("transcript_x.JSON") == "application/json"
    assert content_type("ab12-a0.wav") == "audio/wav"
    for other in ("page.html", "image.svg", "script.js", "noext"):
        assert content_type(other) == "application/octet-stream", other


async def _status(port: int, raw_path: str) -> int:
    """The status of a request line sent as written: clients normalise ``..`` away before sending."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {raw_path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
    status = int((await reader.readline()).split()[1])
    writer.close()
    return status


async def test_the_web_service_serves_the_directory_read_only(client_factory, tmp_path):
    client = await client_factory(CORS_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN="https://app.example")
    directory = tmp_path / "transcripts" / MEETING  # CONFIG is tmp_path: the transcriber's default
    directory.mkdir(parents=True)
    (directory / "transcript.txt").write_text("Alice: café\n", encoding="utf-8")
    (directory / "a0.wav").write_bytes(b"RIFF....WAVE")
    (directory / "evil.html").write_text("<script>alert(1)</script>")
    (tmp_path / "web").mkdir(exist_ok=True)

    response = await client.get(f"/transcripts/{MEETING}/transcript.txt")
    assert response.status == 200
    assert await response.text() == "Alice: café\n"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert (await client.get(f"/transcripts/{MEETING}/a0.wav")).headers["Content-Type"] == "audio/wav"
    html = await client.get(f"/transcripts/{MEETING}/evil.html")
    assert html.headers["Content-Type"] == "application/octet-stream"

    for path in ("/transcripts/", f"/transcripts/{MEETING}", f"/transcripts/{MEETING}/", "/transcripts/nope.txt",
                 f"/transcripts/{MEETING}%2Ftranscript.txt", "/transcripts/..%2Fweb", "/transcripts/%2e%2e/web",
                 f"/transcripts/{MEETING}/../{MEETING}/transcript.txt", "/transcripts/../transcripts/x"):
        assert await _status(client.port, path) == 404, path
    # nothing else harmed: the service answers as before
    assert (await client.get("/health")).status == 200
    assert (await client.get(f"/transcripts/{MEETING}/transcript.txt")).status == 200


async def test_the_all_in_one_serves_a_transcript_at_the_advertised_link(tmp_path):
    async with running_stack(tmp_path, ENABLE_TRANSCRIPTIONS="1", JIGASI_TRANSCRIBER_ADVERTISE_URL="1") as stack:
        t = stack.settings.transcriber
        started, key = datetime.now(timezone.utc), "3f9a0c4e"
        directory, name = transcript_name(started, "meeting-1", key)
        transcript = Transcript(t.transcripts_dir / directory, name,
                                transcript_header("room@muc.meet.jitsi", started, "en-US", "pocketsphinx"), False)
        transcript.write("[13:09:19 +0:00:04] Alice (0cb6a9fc): hello\n")
        link = advertisement(t.base_url, started, "meeting-1", key).rsplit(" ", 1)[1]
        assert link.startswith(stack.base + "/transcripts/")
        async with aiohttp.ClientSession() as http:
            async with http.get(link, ssl=False) as response:
                assert response.status == 200
                assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
                assert (await response.text()).endswith("Alice (0cb6a9fc): hello\n")
            async with http.get(link.rsplit("/", 1)[0] + "/", ssl=False) as listing:
                assert listing.status == 404
        transcript.close()
