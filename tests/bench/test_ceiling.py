from bench import ceiling


def test_every_ceiling_loop_reports_a_rate():
    figures = ceiling.measure(seconds=0.05)
    assert set(figures) == {"protect_sendto_audio", "protect_sendto_video", "forward_audio", "forward_video"}
    for loop in figures.values():
        assert loop["pps"] > 0 and loop["seconds"] >= 0.05
    assert figures["forward_video"]["payload_bytes"] == 1100
