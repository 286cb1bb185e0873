import pytest

from jitsi_py.common.jid import JidError, parse


def test_parts_and_normalisation():
    j = parse("Room@MUC.Meet.Jitsi/Nick")
    assert (j.node, j.domain, j.resource) == ("room", "muc.meet.jitsi", "Nick")
    assert j.bare == "room@muc.meet.jitsi" and j.full == "room@muc.meet.jitsi/Nick"
    assert parse("meet.jitsi").node is None
    assert parse("a@b/c/d").resource == "c/d"
    assert parse("caf%c3%a9@muc.meet.jitsi").node == "caf%c3%a9"


@pytest.mark.parametrize("text", ["", "@x", "a@", "x/", "a b@x", "a@b@c", "<a>@x"])
def test_malformed(text):
    with pytest.raises(JidError):
        parse(text)
