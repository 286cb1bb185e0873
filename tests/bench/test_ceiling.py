from bench import ceiling


def test_every_ceiling_loop_reports_a_rate():
    figures = ceiling.measure(seconds=0.05)
    assert set(figures) == {"protect_sendto_audio", "protect_sendto_video", "forward_audio", "forward_video"}
    for loop in figures.values():
        assert loop["pps"] > 0 and loop["seconds"] >= 0.05
    assert figures["forward_video"]["payload_bytes"] == 1100


def test_rates_count_cpu_seconds_not_waiting():
    figures = ceiling.protect_and_send(seconds=0.2, payload=100)
    # a thread's CPU clock ticks coarsely: allow for it, but CPU time can never much exceed wall time
    assert figures["pps"] >= 0.8 * figures["wall_pps"] > 0
    assert 0 < figures["cpu_s"] <= 1.2 * figures["seconds"] + 0.02
