"""muc_resource_validate (PROSODY_ENABLE_MUC_RESOURCE_VALIDATE and its siblings) on the conference MUC."""

import pytest

from jitsi_py.common.ns import STANZA_ERRORS as STANZAS
from jitsi_py.settings import Settings
from jitsi_py.xmpp.muc import build_components, strict_nick_domains
from jitsi_py.xmpp.muc.service import MucOptions, MucService

from .harness import MUC, RecordingHost, error_condition, focus_joins, join, q

ANON = "0123abcd-9f1e-4c55-8d2e-77aa00bb11cc@meet.jitsi/r"


def joined(host, jid) -> bool:
    got = host.take(jid)
    return bool(got) and all(el.get("type") != "error" for el in got)


def refusal(host, jid):
    [answer] = host.take(jid)
    return error_condition(answer), answer.findtext(f"{q('error')}/{q('text', STANZAS)}")


@pytest.mark.parametrize("nick,ok", [("aa11", True), ("a_b_1", True), ("A9", True), ("_a", False),
                                     ("a-b", False), ("bad nick", False), ("é1", False)])
def test_a_nick_is_a_letter_or_digit_then_letters_digits_or_underscores(muc, host, nick, ok):
    focus_joins(muc)
    host.clear()
    join(muc, "bob@meet.jitsi/b", nick)
    if ok:
        assert joined(host, "bob@meet.jitsi/b")
    else:
        assert refusal(host, "bob@meet.jitsi/b") == (("cancel", "not-allowed"), "Invalid resource")


def test_strict_anonymous_users_must_take_their_usernames_first_eight_characters(clock):
    host = RecordingHost()
    muc = MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi", validate_nick=True, clock=clock,
                                strict_nick_domains=frozenset({"meet.jitsi"})), host)
    focus_joins(muc)
    host.clear()
    join(muc, ANON, "aa11")
    assert refusal(host, ANON) == (("cancel", "not-allowed"), "Invalid anonymous user ID")
    join(muc, ANON, "0123abcd")
    assert joined(host, ANON)
    join(muc, "carol@guest.meet.jitsi/c", "cc33")  # another virtual host: the pattern alone
    assert joined(host, "carol@guest.meet.jitsi/c")


def test_health_check_rooms_are_not_validated(muc, host):
    room = f"__jicofo-health-check-1@{MUC}"
    focus_joins(muc, room)
    host.clear()
    join(muc, "bob@meet.jitsi/b", "not-valid", room=room)
    assert joined(host, "bob@meet.jitsi/b")


def conference_options(values):
    return build_components(Settings.from_values(values), RecordingHost())[0].options


def test_on_by_default_off_by_variable():
    assert conference_options({}).validate_nick
    assert not conference_options({"PROSODY_ENABLE_MUC_RESOURCE_VALIDATE": "false"}).validate_nick


@pytest.mark.parametrize("values,domains", [
    ({}, set()),
    ({"PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT": "true"}, {"meet.jitsi"}),
    ({"PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT": "true", "ENABLE_AUTH": "1", "ENABLE_GUESTS": "1"},
     {"guest.meet.jitsi"}),
    ({"PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT": "true", "ENABLE_AUTH": "1", "AUTH_TYPE": "jwt",
      "JWT_APP_ID": "app", "JWT_APP_SECRET": "s"}, {"meet.jitsi"}),
    ({"PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT": "true", "ENABLE_AUTH": "1", "ENABLE_GUESTS": "1",
      "PROSODY_MUC_RESOURCE_VALIDATE_ANON_METHODS": "internal_hashed"}, {"meet.jitsi", "auth.meet.jitsi",
                                                                        "hidden.meet.jitsi"}),
    ({"PROSODY_MUC_RESOURCE_VALIDATE_ANONYMOUS_STRICT": "true", "PROSODY_ENABLE_MUC_RESOURCE_VALIDATE": "0"}, set()),
])
def test_strict_applies_to_the_virtual_hosts_with_an_anonymous_provider(values, domains):
    assert strict_nick_domains(Settings.from_values(values)) == domains
    assert conference_options(values).strict_nick_domains == domains
