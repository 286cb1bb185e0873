"""The room as plain data: per-module records are typed and made on first use."""

from dataclasses import dataclass

from jitsi_py.xmpp.muc.room import Room


@dataclass
class Counter:
    value: int = 0


@dataclass
class Other:
    name: str = ""


def test_a_module_record_is_made_once_per_room_and_peek_does_not_make_it():
    room, other_room = Room("a@muc", "a", "muc"), Room("b@muc", "b", "muc")
    assert room.peek(Counter) is None
    room.state(Counter).value += 1
    room.state(Counter).value += 1
    assert room.peek(Counter) == Counter(2)
    assert room.peek(Other) is None and other_room.peek(Counter) is None
    assert other_room.state(Counter) == Counter(0)
