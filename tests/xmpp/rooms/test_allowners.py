"""muc_allowners: owners by joining, or by token issuer with JWT_ACCEPTED_ALLOWNER_ISSUERS."""

from jitsi_py.common.ns import MUC_USER

from ..muc.harness import q
from .stack import ROOM, Stack, presences

ALICE, BOB = "alice@meet.jitsi/a", "bob@meet.jitsi/b"
JWT = {"ENABLE_AUTH": "1", "AUTH_TYPE": "jwt", "JWT_APP_ID": "app", "JWT_APP_SECRET": "s",
       "XMPP_MUC_MODULES": "muc_allowners"}


def affiliation_seen_by(stack, jid, nick):
    for p in presences(stack.take(jid)):
        if p.get("from") == f"{ROOM}/{nick}":
            item = p.find(f"{q('x', MUC_USER)}/{q('item', MUC_USER)}")
            return item.get("affiliation"), item.get("role")
    raise AssertionError(f"{jid} saw no presence of {nick}")


def test_without_the_module_joiners_are_not_owners():
    s = Stack()
    s.focus_joins()
    s.join(ALICE, "aa11")
    assert affiliation_seen_by(s, ALICE, "aa11")[0] == "none"


def test_named_in_xmpp_muc_modules_every_joiner_is_an_owner_while_there():
    s = Stack({"XMPP_MUC_MODULES": "muc_allowners"})
    s.focus_joins()
    s.join(ALICE, "aa11")
    assert affiliation_seen_by(s, ALICE, "aa11") == ("owner", "moderator")
    s.send(ALICE, f'<presence type="unavailable" to="{ROOM}/aa11"/>')
    room = s.components["muc.meet.jitsi"].get_room(ROOM)
    assert room.affiliations.get("alice@meet.jitsi", "none") == "none"


def test_with_issuers_only_their_tokens_make_owners():
    s = Stack({**JWT, "JWT_ACCEPTED_ALLOWNER_ISSUERS": "portal"})
    s.focus_joins()
    s.origin(ALICE, claims={"iss": "portal", "room": "*"}, anonymous=False)
    s.origin(BOB, claims={"iss": "elsewhere", "room": "*"}, anonymous=False)
    s.join(ALICE, "aa11")
    assert affiliation_seen_by(s, ALICE, "aa11")[0] == "owner"
    s.join(BOB, "bb22")
    assert affiliation_seen_by(s, BOB, "bb22")[0] == "none"
