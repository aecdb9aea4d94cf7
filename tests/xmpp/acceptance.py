#!/usr/bin/python3
"""The spec's acceptance cases that the client scripts leave open, over raw
sockets, so each answer is checked exactly (spec §5).

Usage: acceptance.py PORT CA_FILE [SERVER_PID]
Needs alice (alice-pw), bob (bob-pw) and carol (carol-pw). With the server's
process id, it also checks that repeated hostile input leaves the memory of
the server's processes flat. A bystander session (carol/by) is connected
from first to last and must be undisturbed. Each check prints 'ok NAME' or
'FAIL NAME: why'; the exit status is the number of failures. Absence of a
reply is checked by order, not by waiting: a ping sent afterwards on the
same stream must be the next answer (stanzas from one connection are
processed in order, RFC 6120 §10.1).
"""
import base64
import re
import sys

import xtest  # beside this script

PORT = int(sys.argv[1])
CA = sys.argv[2]
SERVER = int(sys.argv[3]) if len(sys.argv) > 3 else 0
T = 10
HDR = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


check = xtest.check


class Conn(xtest.Conn):
    def __init__(self):
        super().__init__(PORT, CA)


iq_reply = xtest.iq_reply


def server_rss_kb():
    """Resident memory of the server and every process under it, in KiB."""
    total, todo = 0, [SERVER]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/status" % p) as f:
                total += int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except (OSError, AttributeError):
            pass
    return total


# The bystander: carol/by, online from first to last.
by = Conn()
check(by.login("carol", "carol-pw", "by"), "bystander carol/by logs in")
alice = Conn()
check(alice.login("alice", "alice-pw", "acc"), "alice/acc logs in")

# L5: a bind with no resource gets a generated one.
c = Conn()
jid = c.bind() if c.auth("alice", "alice-pw") else None
check(jid is not None and re.fullmatch(r"alice@localhost/.+", jid) is not None,
      "L5 bind without a resource gets a generated one", str(jid))
c.close()

# S1: ping to the domain answered from the domain.
alice.send("<iq type='get' id='s1' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
r = iq_reply(alice, "s1")
check("type='result'" in r and "from='localhost'" in r, "S1 ping to the domain: result from 'localhost'", r)

# S2: disco#info to the domain lists the tier-1 features.
alice.send("<iq type='get' id='s2' to='localhost'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>")
r = iq_reply(alice, "s2")
feats = set(re.findall(r"<feature var='([^']*)'", r))
want = {"http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items",
        "urn:xmpp:ping", "msgoffline"}
ident = re.search(r"<identity[^>]*category='server'[^>]*type='im'|<identity[^>]*type='im'[^>]*category='server'", r)
check(want <= feats and ident and "from='localhost'" in r, "S2 disco#info: server/im and the four features",
      "%s %s" % (sorted(feats), r[:200]))
bad = {"urn:xmpp:sm:3", "urn:xmpp:mam:2", "http://jabber.org/protocol/pubsub#publish", "vcard-temp"}
check(not (feats & bad), "S2 nothing on the do-not-advertise list", str(feats & bad))

# XEP-0092 (tier 2): the domain answers with a name and a version and no
# <os/>; disco#info lists the namespace; a set is not answered with a result.
check("jabber:iq:version" in feats, "XEP-0092 listed in disco#info", str(sorted(feats)))
alice.send("<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
r = iq_reply(alice, "v1")
check("type='result'" in r and "from='localhost'" in r and "<name>eactors-xmpp</name>" in r and
      re.search(r"<version>[0-9][0-9.]*</version>", r) is not None and "<os" not in r,
      "XEP-0092 version: name and version from 'localhost', no os", r)
alice.send("<iq type='set' id='v2' to='localhost'><query xmlns='jabber:iq:version'/></iq>")
r = iq_reply(alice, "v2")
check("type='error'" in r and "<service-unavailable" in r, "XEP-0092 a set: service-unavailable", r)

# S3: an unknown get to a bare JID; a set with two payloads; results and
# errors to the server get no reply.
alice.send("<iq type='get' id='s3a' to='bob@localhost'><query xmlns='urn:example:nothing'/></iq>")
r = iq_reply(alice, "s3a")
check("type='error'" in r and "<service-unavailable" in r and "type='cancel'" in r,
      "S3 unknown iq to a bare JID: service-unavailable (cancel), same id", r)
alice.send("<iq type='set' id='s3b' to='localhost'><ping xmlns='urn:xmpp:ping'/>"
           "<query xmlns='jabber:iq:roster'/></iq>")
r = iq_reply(alice, "s3b")
check("type='error'" in r and "<bad-request" in r, "S3 a set with two payloads: bad-request", r)
alice.send("<iq type='result' id='s3c' to='localhost'/>"
           "<iq type='error' id='s3d'><error type='cancel'><item-not-found "
           "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")
before = alice.ping("s3e")
check(before is not None and b"s3c" not in before and b"s3d" not in before,
      "S3 a result and an error to the server get no reply", repr(before))

# M1/M4 ids: a message keeps its id; one to nobody returns it in the error.
alice.send("<message to='carol@localhost/by' id='m1-id' type='chat'><body>m1</body></message>")
m = by.take(rb"<message[^>]*>.*?</message>")
msg = m.group(0).decode() if m else ""
check("id='m1-id'" in msg and "from='alice@localhost/acc'" in msg and "<body>m1</body>" in msg,
      "M1 id, from and body intact", msg)
# E9 on the forwarded bytes: a stanza is forwarded as the bytes that
# arrived when it can be; a forged from= in any spelling (spaces around '=',
# double quotes, upper-case domain) is replaced by the sender's JID, and a
# stanza with a prefixed child (re-serialized instead) arrives intact.
alice.send("<message to='carol@localhost/by' id='sp1' type='chat' from = \"Carol@LOCALHOST/x\" "
           "xml:lang='en'><body>s&amp;p</body></message>")
m = by.take(rb"<message[^>]*id='sp1'.*?</message>")
msg = m.group(0).decode() if m else ""
check(msg.count("from=") == 1 and "from='alice@localhost/acc'" in msg and "Carol@" not in msg and
      "<body>s&amp;p</body>" in msg, "E9 a forged from= in the forwarded bytes is replaced", msg)
alice.send("<message to='carol@localhost/by' id='sp2' type='chat' from='carol@localhost/x' "
           "xmlns:e='urn:example:e'><body>q</body><e:x a='1'/></message>")
m = by.take(rb"<message[^>]*id='sp2'.*?</message>")
msg = m.group(0).decode() if m else ""
check("from='alice@localhost/acc'" in msg and "carol@localhost/x" not in msg and "<body>q</body>" in msg and
      "urn:example:e" in msg, "E9 a prefixed stanza (re-serialized) keeps its child, from replaced", msg)
alice.send("<message to='nobody@localhost' id='m4-id' type='chat'><body>x</body></message>")
m = alice.take(rb"<message[^>]*type='error'[^>]*>.*?</message>")
msg = m.group(0).decode() if m else ""
check("id='m4-id'" in msg and "<service-unavailable" in msg and "from='nobody@localhost'" in msg,
      "M4 message to nobody: service-unavailable with the same id, from the address", msg)

# M2: a chat to one full JID reaches only that resource.
by2 = Conn()
if by2.login("carol", "carol-pw", "by2"):
    by.take(rb"<presence[^>]*from='carol@localhost/by2'[^>]*(?:/>|>.*?</presence>)")
    alice.send("<message to='carol@localhost/by' type='chat'><body>only-by</body></message>"
               "<message to='carol@localhost/by2' type='chat'><body>only-by2</body></message>")
    m1 = by.take(rb"<message[^>]*>.*?</message>")
    m2 = by2.take(rb"<message[^>]*>.*?</message>")
    check(m1 and b"only-by<" in m1.group(0) and m2 and b"only-by2<" in m2.group(0),
          "M2 a chat to a full JID reaches only that resource",
          "%r %r" % (m1 and m1.group(0), m2 and m2.group(0)))
    by2.close()
else:
    check(False, "M2 carol/by2 login")

# E6: a stanza after SASL but before bind is refused, and not delivered.
c = Conn()
if c.auth("alice", "alice-pw"):
    c.send("<message to='carol@localhost/by' type='chat'><body>before-bind</body></message>")
    m = c.read_until(rb"<stream:error>.*?</stream:stream>|<message[^>]*type='error'")
    check(m is not None, "E6 a stanza before bind is refused", m and m.group(0)[:120].decode(errors="replace"))
else:
    check(False, "E6 login")
c.close()

# E8: a stanza pipelined after <auth> (before <success/>) belongs to the old,
# unauthenticated stream: it never runs as the new identity.
c = Conn()
ok = c.auth("alice", "alice-pw", "<message to='carol@localhost/by' type='chat'><body>injected</body></message>"
            "<iq type='get' id='inj'><query xmlns='jabber:iq:roster'/></iq>")
if ok and c.bind("e8"):
    before = c.ping("e8p")
    check(before is not None and b"'inj'" not in before, "E8 an iq pipelined after <auth> is not answered",
          repr(before))
else:
    check(False, "E8 login after pipelined input", repr(c.buf[-200:]))
c.close()

# E1: past the retry limit (5 failures) the stream closes; the first 3
# failures keep it open (slixmpp tries every offered mechanism).
c = Conn()
c.starttls()
fails = 0
bad_tok = base64.b64encode(b"\0alice\0wrong").decode()
for i in range(8):
    try:
        c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, bad_tok))
    except OSError:
        break
    if not c.take(rb"<failure[^>]*><not-authorized/>"):
        break
    fails += 1
closed = c.wait_closed()
check(3 <= fails <= 5 and closed, "E1 the stream closes after the retry limit",
      "%d failures, closed %s" % (fails, closed))
c.close()

# Hostile input while the bystander is online; with the server's pid, the
# memory of its processes stays flat over 20 more rounds.
laughs = ("<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
          + "".join("<!ENTITY lol%d '%s'>" % (i, ("&lol%d;" % (i - 1) if i else "&lol;") * 10)
                    for i in range(9))
          + "]>" + HDR[21:] + "&lol8;")
hostile = [[laughs], [HDR, "<message a='" + "x" * (1 << 20)], [HDR, "<a>" * 10000],
           [HDR, "<message><body>x</message>"], [HDR, b"<message>\xff\xfe</message>"]]


def hostile_round():
    ok = True
    for chunks in hostile:
        c = Conn()
        try:
            for ch in chunks:
                c.send(ch)
        except OSError:
            pass
        ok = ok and c.read_until(rb"<stream:error>.*</stream:stream>") is not None
        c.close()
    return ok


check(hostile_round(), "hostile round: each case gets its stream error")
if SERVER:
    rss0 = server_rss_kb()
    ok = all(hostile_round() for _ in range(20))
    rss1 = server_rss_kb()
    check(ok and rss0 > 0 and rss1 - rss0 < 16 * 1024, "E3-E5 memory flat over 20 hostile rounds",
          "%d KiB -> %d KiB" % (rss0, rss1))

# The bystander was not disturbed: still connected, no stream error, and it
# still gets messages.
alice.send("<message to='carol@localhost/by' type='chat'><body>still-there</body></message>")
m = by.take(rb"<message[^>]*>.*?</message>")
check(m is not None and b"still-there" in m.group(0) and b"stream:error" not in by.buf and not by.closed,
      "bystander undisturbed by every case (and E8's injected message never reached it)",
      repr(by.buf[-200:]))
alice.close()
by.close()
sys.exit(xtest.failures)
