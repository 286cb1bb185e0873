from bench import ceiling


def test_every_ceiling_loop_reports_a_rate():
    figures = ceiling.measure(seconds=0.05)
    assert set(figures) == {"protect_sendto_audio", "protect_sendto_video", "forward_audio", "forward_video",
                            "protect_sendto_video_aes_cm"}
    for loop in figures.values():
        assert loop["pps"] > 0 and loop["seconds"] >= 0.05
    assert figures["forward_video"]["payload_bytes"] == 1100


def test_rates_count_cpu_seconds_not_waiting():
    figures = ceiling.protect_and_send(seconds=0.2, payload=100)
    # a thread's CPU clock ticks coarsely: allow for it, but CPU time can never much exceed wall time
    assert figures["pps"] >= 0.8 * figures["wall_pps"] > 0
    assert 0 < figures["cpu_s"] <= 1.2 * figures["seconds"] + 0.02


def test_the_anchor_mixes_packet_times_in_the_bridges_proportions():
    figures = {"protect_sendto_audio": {"pps": 400_000}, "protect_sendto_video": {"pps": 200_000}}
    assert round(ceiling.mixed_pps(figures, 1.0)) == 400_000 and round(ceiling.mixed_pps(figures, 0.0)) == 200_000
    # half the packets at 2.5 µs, half at 5 µs: 3.75 µs a packet
    assert round(ceiling.mixed_pps(figures, 0.5)) == round(1e6 / 3.75)
