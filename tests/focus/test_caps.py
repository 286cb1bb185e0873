"""XEP-0115 verification and the focus's caps cache, on the XEP's own worked examples."""

import base64
import hashlib
from xml.etree.ElementTree import fromstring

import pytest

from jitsi_py.focus.caps import CapsCache, Malformed, verification_string, verify

SIMPLE = """<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity category='client' name='Exodus 0.9.1' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
</query>"""

COMPLEX = """<query xmlns='http://jabber.org/protocol/disco#info'>
  <identity xml:lang='en' category='client' name='Psi 0.11' type='pc'/>
  <identity xml:lang='el' category='client' name='\u03a8 0.11' type='pc'/>
  <feature var='http://jabber.org/protocol/caps'/>
  <feature var='http://jabber.org/protocol/disco#info'/>
  <feature var='http://jabber.org/protocol/disco#items'/>
  <feature var='http://jabber.org/protocol/muc'/>
  <x xmlns='jabber:x:data' type='result'>
    <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var='ip_version'><value>ipv4</value><value>ipv6</value></field>
    <field var='os'><value>Mac</value></field>
    <field var='os_version'><value>10.5.1</value></field>
    <field var='software'><value>Psi</value></field>
    <field var='software_version'><value>0.11</value></field>
  </x>
</query>"""


def test_the_xep_examples_verify():
    assert verification_string(fromstring(SIMPLE)) == (
        "client/pc//Exodus 0.9.1<http://jabber.org/protocol/caps<http://jabber.org/protocol/disco#info<"
        "http://jabber.org/protocol/disco#items<http://jabber.org/protocol/muc<")
    assert verify(fromstring(SIMPLE), "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=")
    assert verify(fromstring(COMPLEX), "sha-1", "q07IKJEyjvHSyhy//CH0CxmKi8w=")


def test_a_different_answer_or_hash_does_not_verify():
    stripped = SIMPLE.replace("<feature var='http://jabber.org/protocol/muc'/>", "")
    assert not verify(fromstring(stripped), "sha-1", "QgayPKawpkPSDYmwT/WM94uAlu0=")
    assert not verify(fromstring(SIMPLE), None, "QgayPKawpkPSDYmwT/WM94uAlu0=")
    assert not verify(fromstring(SIMPLE), "md5", "QgayPKawpkPSDYmwT/WM94uAlu0=")


@pytest.mark.parametrize("query", [
    SIMPLE.replace("</query>", "<feature var='http://jabber.org/protocol/muc'/></query>"),
    SIMPLE.replace("</query>", "<identity category='client' name='Exodus 0.9.1' type='pc'/></query>"),
    COMPLEX.replace("<field var='os'>",
                    "<field var='FORM_TYPE' type='hidden'><value>x</value></field><field var='os'>"),
])
def test_malformed_answers_never_verify(query):
    with pytest.raises(Malformed):
        verification_string(fromstring(query))


def test_the_cache_keeps_only_verified_answers_and_is_bounded():
    cache = CapsCache(size=2)
    forged = fromstring("<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert cache.learn("n", "QgayPKawpkPSDYmwT/WM94uAlu0=", "sha-1", forged) == frozenset()
    assert cache.get("n", "QgayPKawpkPSDYmwT/WM94uAlu0=") is None
    features = cache.learn("n", "QgayPKawpkPSDYmwT/WM94uAlu0=", "sha-1", fromstring(SIMPLE))
    assert "http://jabber.org/protocol/muc" in features
    assert cache.get("n", "QgayPKawpkPSDYmwT/WM94uAlu0=") == features
    cache.learn("n", "q07IKJEyjvHSyhy//CH0CxmKi8w=", "sha-1", fromstring(COMPLEX))
    cache.get("n", "QgayPKawpkPSDYmwT/WM94uAlu0=")  # used last: the complex entry is now the oldest
    third = fromstring(SIMPLE.replace("Exodus 0.9.1", "Exodus 0.9.2"))
    third_ver = base64.b64encode(hashlib.sha1(verification_string(third).encode()).digest()).decode()
    cache.learn("n", third_ver, "sha-1", third)
    assert len(cache) == 2
    assert cache.get("n", "q07IKJEyjvHSyhy//CH0CxmKi8w=") is None
    assert cache.get("n", "QgayPKawpkPSDYmwT/WM94uAlu0=") is not None and cache.get("n", third_ver) is not None
