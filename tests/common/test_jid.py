import pytest

from jitsi_py.common.jid import JidError, _parse_cached, entity_bare, parse


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


@pytest.mark.parametrize("text", [
    "x" * 1024 + "@muc.meet.jitsi",  # RFC 7622 §3: each part at most 1023 octets
    "é" * 600 + "@muc.meet.jitsi",  # 600 characters, 1200 octets
    "room@" + "d" * 1024,
    "room@muc.meet.jitsi/" + "r" * 1024,
    "room@muc.meet.jitsi/" + "€" * 400,
    "room@.", "/res", "@muc.meet.jitsi/res",
])
def test_rfc7622_lengths_and_empty_parts(text):
    with pytest.raises(JidError) as bad:
        parse(text)
    assert len(str(bad.value)) < 160, "the error names the JID without echoing kilobytes"


def test_the_longest_parts_pass():
    longest = "x" * 1023 + "@" + "d" * 1023 + "/" + "é" * 511
    assert parse(longest).resource == "é" * 511
    assert parse("é" * 511 + "@muc.meet.jitsi").node == "é" * 511


def test_entity_bare_wants_a_localpart_and_no_resource():
    assert entity_bare("Room@MUC.meet.jitsi") == ("room", "muc.meet.jitsi", None)
    for text in ("muc.meet.jitsi", "room@muc.meet.jitsi/nick", "", "x" * 3000 + "@muc.meet.jitsi"):
        with pytest.raises(JidError):
            entity_bare(text)


def test_long_jids_do_not_fill_the_cache():
    before = _parse_cached.cache_info().currsize
    for i in range(100):
        parse(f"{i:04d}" + "x" * 1000 + "@meet.jitsi")
    assert _parse_cached.cache_info().currsize == before
    parse("short-and-new@meet.jitsi")
    assert _parse_cached.cache_info().currsize == before + 1
