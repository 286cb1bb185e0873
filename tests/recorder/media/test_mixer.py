import numpy as np

from jitsi_py.recorder.media.mixer import Mixer

RATE = 48000


def chunk(value: int, count: int = 960) -> np.ndarray:
    return np.full(count, value, np.int16)


def test_sources_are_summed_where_they_arrived():
    mixer = Mixer(latency=0.1)
    mixer.push("a", chunk(1000), arrival=0.04)  # samples 960..1920
    mixer.push("b", chunk(2000), arrival=0.06)  # samples 1920..2880
    mixer.push("c", chunk(10), arrival=0.06)
    assert mixer.due(0.1) == 0  # nothing before the latency has passed
    out = mixer.pull(mixer.due(0.2))
    assert len(out) == round(0.1 * RATE)
    assert (out[:960] == 0).all() and (out[960:1920] == 1000).all() and (out[1920:2880] == 2010).all()
    assert (out[2880:] == 0).all()


def test_the_sum_is_clipped_not_wrapped():
    mixer = Mixer()
    for source in "abc":
        mixer.push(source, chunk(20000), arrival=0.02)
        mixer.push(source + "-", chunk(-20000), arrival=0.04)
    out = mixer.pull(1920)
    assert (out[:960] == 32767).all() and (out[960:] == -32768).all()


def test_jittery_chunks_of_one_source_follow_each_other_seamlessly():
    mixer = Mixer(resync=0.06)
    arrivals = [0.02, 0.045, 0.055, 0.09, 0.1]  # 20 ms chunks, arriving unevenly
    for i, at in enumerate(arrivals):
        mixer.push("a", chunk(i + 1), arrival=at)
    out = mixer.pull(960 * 6)
    assert [int(v) for v in out[::960]] == [1, 2, 3, 4, 5, 0]


def test_a_gap_beyond_the_resync_limit_is_kept_as_silence():
    mixer = Mixer(resync=0.06)
    mixer.push("a", chunk(7), arrival=0.02)
    mixer.push("a", chunk(9), arrival=0.5)  # after 460 ms of nothing (muted, DTX)
    out = mixer.pull(RATE)
    assert (out[:960] == 7).all() and (out[960:round(0.48 * RATE)] == 0).all()
    assert (out[round(0.48 * RATE):round(0.5 * RATE)] == 9).all()


def test_audio_arriving_after_its_time_was_mixed_is_dropped():
    mixer = Mixer(latency=0.05)
    mixer.pull(mixer.due(0.5))  # up to 0.45 s
    mixer.push("a", chunk(5), arrival=0.46)  # samples 0.44..0.46: the first 10 ms are gone
    out = mixer.pull(round(0.5 * RATE))
    assert (out[:round(0.01 * RATE)] == 5).all() and (out[round(0.01 * RATE):] == 0).all()
    assert mixer.position == round(0.5 * RATE)


def test_a_forgotten_source_starts_afresh():
    mixer = Mixer(resync=0.06)
    mixer.push("a", chunk(1), arrival=0.02)
    mixer.forget("a")
    mixer.push("a", chunk(2), arrival=0.06)  # would follow on at 0.02 if remembered; lands at 0.04
    out = mixer.pull(3 * 960)
    assert (out[960:1920] == 0).all() and (out[1920:] == 2).all()


def test_pulling_further_than_the_buffer_holds_gives_silence_and_moves_on():
    mixer = Mixer(capacity=0.5)
    mixer.push("a", chunk(3), arrival=0.02)
    out = mixer.pull(RATE * 2)
    assert len(out) == RATE * 2 and (out[:960] == 3).all() and (out[960:] == 0).all()
