"""The recorder's media core: participants' decoded frames in, one composed H.264 + AAC recording out.

No XMPP here: the recorder service joins the meeting and feeds what it receives::

    from jitsi_py.recorder.media import Pipeline, Layout, EncodeSettings, RecordingFailed

    pipe = Pipeline(target="/recordings/abc/room_2026-12-07-06-00-00.mp4",   # or rtmp://host/app/key, rtmps://
                    encode=EncodeSettings(width=1280, height=720, framerate=30, preset="veryfast", crf=25,
                                          audio_bitrate=128000, video_bitrate=None),  # e.g. 2_976_000 to stream
                    layout="stage")                                          # or "grid" (Layout.STAGE/GRID)
    pipe.add_participant(endpoint_id, display_name)
    pipe.rename(endpoint_id, display_name)
    pipe.remove_participant(endpoint_id)
    pipe.video(endpoint_id, av_video_frame, screen_share=False)   # the latest frame per source wins
    pipe.audio(endpoint_id, av_audio_frame)                       # as aiortc decodes it (48 kHz)
    pipe.dominant_speaker(endpoint_id)
    await pipe.start()          # opens the file / connects the stream; raises RecordingFailed if it cannot
    ...
    failure = await pipe.failed  # resolves (a result, not raised) with RecordingFailed(reason, retryable)
    duration = await pipe.stop() # flushes and closes; seconds recorded

- The target: a file path (MP4) or an ``rtmp://`` / ``rtmps://`` URL (FLV); any other URL scheme is
  a ValueError at construction. `EncodeSettings.from_jibri(resolution="1280x720", framerate=30,
  preset=..., crf=25, max_bitrate="2976k")` takes upstream's JIBRI_RECORDING_* values as spelled.
- ``failed`` is a future created with the pipeline (or by ``start()`` when the pipeline is built
  outside a running loop). It resolves at most once, when writing or streaming fails mid-way (disk
  full, the RTMP server gone) or when ``start()`` cannot open the target; ``reason`` is a short
  phrase for the room's status (stream keys never appear in it), ``retryable`` whether another
  attempt, e.g. on another recorder, could succeed. Call ``stop()`` after a failure too: it returns
  the duration recorded until then.
- Layout: "stage" shows the dominant speaker (or the first participant) large and everyone in a
  filmstrip below; "grid" shows equal tiles (at most 25). A screen share takes the stage in both. A
  source that sent no frame for 2 s counts as stopped: a camera shows the participant's initials,
  a screen share leaves the stage. Names are drawn on every tile.
- Frames may come from the event loop at any rate; composing, mixing and encoding happen in one
  worker thread at the output frame rate, on its own clock.
"""

from .layout import Layout
from .output import EncodeSettings, RecordingFailed
from .pipeline import Pipeline

__all__ = ["EncodeSettings", "Layout", "Pipeline", "RecordingFailed"]
