"""Fixtures of the sans-I/O MUC service tests."""

import pytest

from jitsi_py.xmpp.muc.service import MucOptions, MucService

from .harness import MUC, Clock, RecordingHost


@pytest.fixture
def host():
    return RecordingHost()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def muc(host, clock):
    return MucService(MucOptions(domain=MUC, focus_jid="focus@auth.meet.jitsi", wait_for_focus=True,
                                 validate_nick=True, clock=clock), host)
