"""What a room relays between its occupants: groupchat (XEP-0045 §7.4), private messages (§7.5),
invitations (§7.8), and IQs to an occupant, forwarded with their ids untouched so that the reply
comes back through the room by its ``to``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from xml.etree.ElementTree import Element, SubElement

from ...common import jid as jids
from ...common.errors import StanzaError
from ...common.ns import CLIENT, MUC_USER, NICK
from .dispatch import Request
from .hooks import Hook
from .room import Occupant
from .stanza import MESSAGE, stanza

if TYPE_CHECKING:
    from .service import MucService


class Relay:
    def __init__(self, muc: MucService) -> None:
        self.muc = muc

    def domain_message(self, request: Request) -> None:
        """A message to the service domain no room module took."""
        if request.stanza.get("type") not in ("error", "groupchat"):
            raise StanzaError("cancel", "service-unavailable")

    def groupchat(self, request: Request) -> None:
        room, sender, msg = request.in_room, request.sender, request.stanza
        if sender is None:
            raise StanzaError("modify", "not-acceptable", "You are not in this room")
        if sender.role == "visitor":
            raise StanzaError("auth", "forbidden", "Visitors may not speak in this room")
        subject = msg.find(f"{{{CLIENT}}}subject")
        if subject is not None and msg.find(f"{{{CLIENT}}}body") is None:
            if not (sender.is_moderator or room.config.change_subject):
                raise StanzaError("auth", "forbidden", "Only moderators may change the subject")
            room.subject = subject.text or ""
            room.subject_from = sender.occupant_jid
        out = Element(MESSAGE, {"from": sender.occupant_jid, "type": "groupchat"})
        msg_id = msg.get("id")
        if msg_id:
            out.set("id", msg_id)
        # muc_meeting_id: a display name added to a groupchat is dropped, presence carries it.
        out.extend(child for child in msg if child.tag != f"{{{NICK}}}nick")
        visible = self.muc.visibility
        self.muc.send_to(out, (o for o in room.occupants.values()
                               if visible is None or visible(room, sender, o)))

    def private_message(self, request: Request) -> None:
        room, sender, msg = request.in_room, request.sender, request.stanza
        if msg.get("type") == "groupchat":
            raise StanzaError("modify", "bad-request", "Private messages may not be groupchat")
        if sender is None:
            raise StanzaError("modify", "not-acceptable", "You are not in this room")
        target = room.occupants.get(request.nick)
        if target is None:
            raise StanzaError("cancel", "item-not-found", "No such occupant")
        visible = self.muc.visibility
        if visible is not None and not (visible(room, sender, target) or visible(room, target, sender)):
            raise StanzaError("cancel", "not-allowed", "You may not write to this occupant")
        out = forwarded(msg, sender.occupant_jid, target.jid)
        if out.find(f"{{{MUC_USER}}}x") is None:
            out.append(Element(f"{{{MUC_USER}}}x"))
        self.muc.host.send(out)

    def invite(self, request: Request) -> None:
        """Any other message to the room: an invitation (or a decline, which ends here)."""
        room, sender, msg = request.in_room, request.sender, request.stanza
        x = msg.find(f"{{{MUC_USER}}}x")
        invites = x.findall(f"{{{MUC_USER}}}invite") if x is not None else []
        if not invites:
            if x is not None and x.find(f"{{{MUC_USER}}}decline") is not None:
                return
            raise StanzaError("modify", "bad-request", "Only groupchat messages and invites go to a room")
        if sender is None:
            raise StanzaError("modify", "not-acceptable", "You are not in this room")
        if room.config.members_only and not sender.is_moderator and not room.config.allow_invites:
            raise StanzaError("auth", "forbidden", "Only moderators may invite to a members-only room")
        for invite in invites:
            if not invite.get("to", ""):
                raise StanzaError("modify", "bad-request", "An invite needs a 'to'")
        for invite in invites:
            invitee = invite.get("to", "")
            if room.config.members_only and room.affiliation(jids.bare(invitee)) == "none":
                room.set_affiliation(jids.bare(invitee), "member")
            out = stanza("message", room.jid, invitee)
            ox = SubElement(out, f"{{{MUC_USER}}}x")
            fwd = SubElement(ox, f"{{{MUC_USER}}}invite", {"from": sender.jid})
            fwd.extend(invite)
            # The room password is deliberately not included: admission is the member affiliation.
            self.muc.host.send(out)
            self.muc.hooks.fire(Hook.INVITE, room, sender, invitee)

    def iq_to_occupant(self, request: Request) -> None:
        ends = self._iq_ends(request)
        if ends is not None:
            sender, target = ends
            self.muc.host.send(forwarded(request.stanza, sender.occupant_jid, target.jid))

    def ping_to_occupant(self, request: Request) -> None:
        """XEP-0410: the room answers an occupant's ping to itself; others are forwarded."""
        ends = self._iq_ends(request)
        if ends is None:
            return
        sender, target = ends
        if target is sender:
            self.muc.disco.pong(request)
        else:
            self.muc.host.send(forwarded(request.stanza, sender.occupant_jid, target.jid))

    def _iq_ends(self, request: Request) -> tuple[Occupant, Occupant] | None:
        """The occupants an IQ comes from and goes to; a request that cannot go anywhere is refused."""
        asks = request.stanza.get("type") in ("get", "set")
        sender = request.sender
        if sender is None:
            if asks:
                raise StanzaError("modify", "not-acceptable", "You are not in this room")
            return None
        target = request.in_room.occupants.get(request.nick)
        if target is None:
            if asks:
                raise StanzaError("cancel", "item-not-found", "No such occupant")
            return None
        return sender, target


def forwarded(original: Element, from_: str, to: str) -> Element:
    """A shallow copy of ``original`` re-addressed; the children are shared, not copied."""
    out = Element(original.tag, original.attrib)
    out.set("from", from_)
    out.set("to", to)
    out.extend(original)
    return out
