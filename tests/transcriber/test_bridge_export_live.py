"""Transcription by the bridge's export, end to end on our stack: a moderator turns transcription on
in the room metadata (as jitsi-meet's "start transcribing" does), the focus has the bridge export the
conference's audio (a Colibri2 connect), the bridge streams each speaker's Opus as mediajson to our
transcriber, whose results come back through the bridge to the participants as bridge-channel
messages; turning it off ends the export."""

from __future__ import annotations

import asyncio

import pytest

from bench.speech import SENTENCES, VOICE, word_error_rate
from jitsi_py.common.meeting import Meeting, events

from ..common.meeting.conftest import meetings, server_of
from ..web.conftest import free_port
from .live import SpeechTrack, set_transcribing, transcription_stack

pytestmark = pytest.mark.system  # espeak-ng


async def test_the_bridge_exports_a_speaker_to_the_transcriber_and_relays_its_captions(tmp_path):
    port = free_port()
    async with transcription_stack(
            tmp_path, JITSI_PY_TRANSCRIBER_EXPORT_PORT=str(port), JITSI_PY_TRANSCRIBER_EXPORT_INTERFACES="127.0.0.1",
            JITSI_PY_FOCUS_TRANSCRIPTION_URL_TEMPLATE=f"ws://127.0.0.1:{port}/{{{{MEETING_ID}}}}") as stack:
        server = server_of(stack)
        mic = SpeechTrack()
        listener = Meeting(server, display_name="Listener", receive_video=False, receive_audio=False)
        alice = Meeting(server, display_name="Alice", audio_source=mic, receive_video=False, receive_audio=False)
        async with meetings(listener, alice):
            await listener.join("exported", wait_for_media=False)  # first in: the moderator
            await alice.join("exported")
            await set_transcribing(listener, True)

            captions: list[events.EndpointMessage] = []

            async def listen():
                async for event in listener.events():
                    if isinstance(event, events.EndpointMessage) and isinstance(event.payload, dict) \
                            and event.payload.get("type") == "transcription-result":
                        captions.append(event)
            listening = asyncio.ensure_future(listen())
            try:
                final = None
                for _ in range(3):  # a loaded machine may still be connecting the export the first time
                    mic.say(SENTENCES[2], VOICE)
                    for _ in range(150):
                        final = next((c for c in captions if not c.payload["is_interim"]), None)
                        if final is not None:
                            break
                        await asyncio.sleep(0.1)
                    if final is not None:
                        break
                assert final is not None, "no final result came back through the bridge"
            finally:
                listening.cancel()
            assert final.from_endpoint == "transcriber"
            assert final.payload["participant"]["id"] == alice.endpoint_id  # per speaker: the source's sender
            assert word_error_rate([(SENTENCES[2], final.payload["transcript"][0]["text"])]) <= 0.5, final.payload

            await set_transcribing(listener, False)  # the focus expires the connect: the export ends
            [meeting_dir] = list((tmp_path / "transcripts").glob("*"))
            [transcript] = list(meeting_dir.glob("transcript_*.txt"))
            for _ in range(100):
                if "transcription ended" in transcript.read_text():
                    break
                await asyncio.sleep(0.1)
            text = transcript.read_text()
    assert f"{alice.endpoint_id} ({alice.endpoint_id}): " in text and "transcription ended" in text
