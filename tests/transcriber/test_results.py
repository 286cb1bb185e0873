"""What the transcriber writes, without a meeting: the result message, the chat lines, the transcript."""

from datetime import datetime, timedelta, timezone

from jitsi_py.transcriber.results import (
    Speaker,
    advertisement,
    chat_line,
    transcript_line,
    transcript_name,
    transcription_result,
)

STARTED = datetime(2026, 12, 7, 13, 5, 9, tzinfo=timezone.utc)
ALICE = Speaker("0cb6a9fc", "Alice", "https://example.com/a.png")


def test_a_result_carries_what_jitsi_meet_reads_and_what_the_bridge_keys_on():
    message = transcription_result(ALICE, "hello there", final=False, stability=0.5, language="en-US",
                                   message_id="m1", timestamp_ms=1796649796140, confidence=0.91234)
    assert message == {
        "type": "transcription-result", "event": "transcription-result", "timestamp": 1796649796140,
        "participant": {"id": "0cb6a9fc", "name": "Alice", "avatar_url": "https://example.com/a.png"},
        "transcript": [{"text": "hello there", "confidence": 0.912}], "language": "en-US",
        "is_interim": True, "message_id": "m1", "stability": 0.5}
    final = transcription_result(Speaker("b", "Bob"), "yes", final=True, stability=1.0, language="en-US",
                                 message_id="m2", timestamp_ms=1)
    assert final["participant"] == {"id": "b", "name": "Bob"} and final["transcript"] == [{"text": "yes"}]
    assert final["is_interim"] is False


def test_names_lines_and_links():
    assert transcript_name(STARTED, "u-1", "k3y") == ("2026-12-07T13-05-09Z_k3y_u-1",
                                                      "transcript_2026-12-07T13-05-09Z_u-1.txt")
    assert advertisement("https://meet.example/transcripts/", STARTED, "u-1", "k3y") == (
        "This meeting is transcribed. The transcript will be at "
        "https://meet.example/transcripts/2026-12-07T13-05-09Z_k3y_u-1/transcript_2026-12-07T13-05-09Z_u-1.txt")
    assert chat_line(ALICE, "hi") == "Alice: hi"
    later = STARTED + timedelta(hours=1, minutes=2, seconds=3)
    assert transcript_line(later, STARTED, ALICE, "hi") == "[14:07:12 +1:02:03] Alice (0cb6a9fc): hi\n"
