"""The MUC's sans-I/O timers."""

from jitsi_py.xmpp.muc.timers import Timers


def test_timers_run_in_deadline_order_and_skip_cancelled():
    timers, ran = Timers(), []
    timers.call_at(5, lambda: ran.append("b"))
    timers.call_at(2, lambda: ran.append("a"))
    late = timers.call_at(9, lambda: ran.append("c"))
    gone = timers.call_at(1, lambda: ran.append("x"))
    gone.cancel()
    assert timers.deadline() == 2 and len(timers) == 3
    timers.call_at(5, lambda: timers.call_at(5, lambda: ran.append("b2")))  # due at once: runs too
    timers.run(5)
    assert ran == ["a", "b", "b2"] and timers.deadline() == 9
    late.cancel()
    assert timers.deadline() is None
    timers.run(100)
    assert ran == ["a", "b", "b2"]
