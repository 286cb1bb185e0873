"""Our stack with transcription on, the transcriber in the test's loop, and speakers that say
espeak-ng sentences through the meeting client."""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from xml.etree.ElementTree import Element

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

from bench.speech import speak
from jitsi_py.common import ns
from jitsi_py.common.meeting import Meeting
from jitsi_py.common.stanzas.rayo import TRANSCRIBER_CALLEE, Dial
from jitsi_py.transcriber import run as run_transcriber

from ..focus.harness import set_room_metadata
from ..support.stack import running_stack

TRANSCRIPTION_ENV = {"ENABLE_TRANSCRIPTIONS": "1", "JIGASI_XMPP_PASSWORD": "jigasi-secret",
                     "JIGASI_TRANSCRIBER_PASSWORD": "transcriber-secret", "JITSI_PY_TRANSCRIBER_INSTANCE_ID": "tr1",
                     "JITSI_PY_TRANSCRIBER_EMPTY_TIMEOUT": "2"}
RATE = 48000
FRAME = 960  # 20 ms


@contextlib.asynccontextmanager
async def transcription_stack(tmp_path, **env: str):
    env = {**TRANSCRIPTION_ENV, "JITSI_PY_TRANSCRIBER_DIR": str(tmp_path / "transcripts"), **env}
    async with running_stack(tmp_path, True, **env) as stack:
        ready = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(run_transcriber(stack.settings,
                                                     lambda summary: ready.done() or ready.set_result(summary)))
        try:
            await asyncio.wait_for(asyncio.shield(ready), 20)
            yield stack
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class SpeechTrack(MediaStreamTrack):
    """A microphone: silence, and the sentences it is told to say, 20 ms frames in real time."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.queue = np.zeros(0, np.int16)
        self.sent = 0
        self.start: float | None = None
        self.said = asyncio.Event()

    def say(self, text: str, voice: str) -> float:
        """Queues the sentence; returns its length in seconds."""
        samples = speak(text, voice=voice, rate=RATE)
        self.queue = np.concatenate([self.queue, samples])
        self.said.clear()
        return len(samples) / RATE

    async def recv(self):
        if self.start is None:
            self.start = time.monotonic()
        else:
            await asyncio.sleep(max(0.0, self.start + self.sent / RATE - time.monotonic()))
        chunk = self.queue[:FRAME]
        self.queue = self.queue[FRAME:]
        if len(chunk) < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - len(chunk), np.int16)])
            if not len(self.queue):
                self.said.set()
        frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME)
        frame.planes[0].update(chunk.tobytes())
        frame.sample_rate = RATE
        frame.pts = self.sent
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent += FRAME
        return frame


def requesting() -> Element:
    """The presence property jitsi-meet's subtitles set: a transcriber stays only while someone has it."""
    element = Element(ns.tag(ns.CLIENT, "jitsi_participant_requestingTranscription"))
    element.text = "true"
    return element


async def ask_for_transcriber(meeting: Meeting):
    """What jitsi-meet does when subtitles are turned on and nobody transcribes yet."""
    iq = meeting._require_xmpp().make_iq_set(ito=f"{meeting.room_jid}/focus")
    iq.xml.append(Dial(TRANSCRIBER_CALLEE, "fromnumber", {"JvbRoomName": meeting.room_jid}).to_element())
    result = await iq.send(timeout=20)
    return result.xml.find(ns.tag(ns.RAYO, "ref"))


async def set_transcribing(meeting: Meeting, enabled: bool) -> None:
    """What jitsi-meet's recording dialog does with transcription ticked (and on stop)."""
    set_room_metadata(meeting._require_xmpp(), meeting.metadata_jid, meeting.room_jid, "recording",
                      {"isTranscribingEnabled": enabled})
