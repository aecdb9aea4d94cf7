#!/usr/bin/python3
"""XEP-0191 blocking over raw streams, each answer checked exactly.

Usage: blocking.py PORT CA_FILE PHASE
  PHASE live: alice (two resources; a2 asked for the blocklist) and carol
              are subscribed to each other. alice blocks carol: a2 gets the
              push, carol sees alice go unavailable, carol's message and
              ping to alice come back service-unavailable and reach nobody,
              alice's message to carol comes back not-acceptable with
              <blocked/>, carol's presence no longer reaches alice. Bad
              requests (no item, a malformed JID) change nothing. A
              resource-specific block stops that resource only. Unblocking
              carol brings alice's presence back to her and lets messages
              through; an unblock without items empties the list (pushed).
              The controls: the same message and presence do pass before
              the block and after the unblock. A blocked MUC room sends
              alice nothing and refuses her groupchat (<blocked/>).
  PHASE set:  dave blocks eve@localhost and the domain example.org.
  PHASE kept: (after a restart) dave's blocklist still holds both.
Needs users alice, carol, dave (passwords NAME-pw); leaves alice's and
carol's lists empty. Prints 'ok NAME' or 'FAIL NAME: why'; exits with the
number of failures.
"""
import re
import sys

import xtest  # beside this script

PORT = int(sys.argv[1])
CA = sys.argv[2]
PHASE = sys.argv[3]
NS = "urn:xmpp:blocking"


def check(cond, name, why=""):
    xtest.check(cond, "blocking " + PHASE + " " + name, why)


def conn(user, res, presence=True):
    c = xtest.Conn(PORT, CA)
    check(c.login(user, user + "-pw", res, presence), "%s/%s logs in" % (user, res))
    return c


def iq(c, iq_id, payload, to=None):
    """Sends an iq set/get (payload starts with 'get:' or 'set:'); the reply."""
    kind, body = payload.split(":", 1)
    c.send("<iq type='%s' id='%s'%s>%s</iq>" % (kind, iq_id, " to='%s'" % to if to else "", body))
    return xtest.iq_reply(c, iq_id)


def items_of(reply):
    return sorted(re.findall(r"<item jid='([^']*)'/>", reply))


def blocklist(c, iq_id):
    return items_of(iq(c, iq_id, "get:<blocklist xmlns='%s'/>" % NS))


def push(c, el):
    """Waits for a blocklist push of `el` (block/unblock) and acks it; its items."""
    m = c.take(rb"<iq[^>]*type='set'[^>]*>\s*<%s xmlns='urn:xmpp:blocking'(?:/>|>.*?</%s>)\s*</iq>"
               % (el.encode(), el.encode()))
    if not m:
        return None
    pid = re.search(rb"id='([^']*)'", m.group(0))
    if pid:
        c.send("<iq type='result' id='%s'/>" % pid.group(1).decode())
    return items_of(m.group(0).decode())


def live():
    a1, a2, carol = conn("alice", "a1"), conn("alice", "a2"), conn("carol", "c1")
    # Subscribed both ways (each asks, each accepts; a ping after each step
    # orders it), so presence flows; earlier scripts may have done it already.
    a1.send("<presence type='subscribe' to='carol@localhost'/>")
    a1.ping("s1")
    carol.send("<presence type='subscribed' to='alice@localhost'/>"
               "<presence type='subscribe' to='alice@localhost'/>")
    carol.ping("s2")
    a1.send("<presence type='subscribed' to='carol@localhost'/>")
    a1.ping("s3")
    for c, n in ((a2, "a2"), (carol, "c1")):
        c.ping("drain-" + n)
    a1.send("<presence/>")
    check(carol.take(rb"<presence(?![^>]*type=)[^>]*from='alice@localhost/a1'"), "carol sees alice's presence")
    a1.ping("drain-a1")

    r = iq(a1, "d1", "get:<query xmlns='http://jabber.org/protocol/disco#info'/>", to="localhost")
    check("<feature var='urn:xmpp:blocking'/>" in r, "disco#info lists urn:xmpp:blocking", r[:300])
    check(blocklist(a2, "l0") == [], "a2: the blocklist starts empty")

    # Control: carol's message reaches alice before the block.
    carol.send("<message to='alice@localhost/a1' id='c0' type='chat'><body>before</body></message>")
    check(a1.take(rb"<message[^>]*id='c0'.*?</message>"), "control: carol's message reaches alice")

    r = iq(a1, "b1", "set:<block xmlns='%s'><item jid='Carol@localhost'/></block>" % NS)
    check("type='result'" in r, "block carol: result", r)
    check(push(a2, "block") == ["carol@localhost"], "a2 gets the block push (normalized JID)")
    un = carol.take(rb"<presence[^>]*type='unavailable'[^>]*/>")
    check(un and b"from='alice@localhost/a" in un.group(0), "carol sees alice go unavailable",
          repr(un and un.group(0)))
    check(blocklist(a2, "l1") == ["carol@localhost"], "the blocklist holds carol")

    # Inbound: carol's message and ping to alice come back as if alice were absent.
    carol.send("<message to='alice@localhost/a1' id='c1' type='chat'><body>blocked</body></message>")
    m = carol.take(rb"<message[^>]*id='c1'.*?</message>")
    check(m and b"type='error'" in m.group(0) and b"<service-unavailable" in m.group(0),
          "carol's message to alice: service-unavailable", repr(m and m.group(0)))
    r = iq(carol, "c2", "get:<ping xmlns='urn:xmpp:ping'/>", to="alice@localhost/a1")
    check("type='error'" in r and "<service-unavailable" in r, "carol's ping to alice/a1: service-unavailable", r)
    carol.send("<presence><status>away</status></presence>")
    before = a1.ping("p1")
    check(before is not None and b"c1" not in before and b"c2" not in before and b"away" not in before,
          "nothing of carol's reaches alice (message, ping, presence)", repr(before))

    # Outbound: alice's message to carol is refused and names the block.
    a1.send("<message to='carol@localhost' id='a1m' type='chat'><body>hi</body></message>")
    m = a1.take(rb"<message[^>]*id='a1m'.*?</message>")
    check(m and b"<not-acceptable" in m.group(0) and b"<blocked xmlns='urn:xmpp:blocking:errors'/>" in m.group(0),
          "alice's message to carol: not-acceptable with <blocked/>", repr(m and m.group(0)))
    before = carol.ping("p2")
    check(before is not None and b"a1m" not in before, "alice's message does not reach carol", repr(before))

    # Bad requests change nothing.
    r = iq(a1, "b2", "set:<block xmlns='%s'/>" % NS)
    check("type='error'" in r and "<bad-request" in r, "block without items: bad-request", r)
    r = iq(a1, "b3", "set:<block xmlns='%s'><item jid='x@y@z'/><item jid='bob@localhost'/></block>" % NS)
    check("type='error'" in r and "<jid-malformed" in r, "a malformed item: jid-malformed", r)
    r = iq(a1, "b4", "set:<block xmlns='%s'><item/></block>" % NS)
    check("type='error'" in r and "<jid-malformed" in r, "an item without a jid: jid-malformed", r)
    check(blocklist(a2, "l2") == ["carol@localhost"], "the bad requests changed nothing")

    # Unblock carol: her view of alice comes back, messages pass again.
    r = iq(a1, "u1", "set:<unblock xmlns='%s'><item jid='carol@localhost'/></unblock>" % NS)
    check("type='result'" in r, "unblock carol: result", r)
    check(push(a2, "unblock") == ["carol@localhost"], "a2 gets the unblock push")
    check(carol.take(rb"<presence(?![^>]*type=)[^>]*from='alice@localhost/a[12]'"),
          "carol gets alice's presence again")
    carol.send("<message to='alice@localhost/a1' id='c3' type='chat'><body>after</body></message>")
    check(a1.take(rb"<message[^>]*id='c3'.*?</message>"), "control: carol's message reaches alice again")

    # A full-JID block stops that resource only.
    c2 = conn("carol", "c2")
    r = iq(a1, "b5", "set:<block xmlns='%s'><item jid='carol@localhost/c2'/></block>" % NS)
    check("type='result'" in r and push(a2, "block") == ["carol@localhost/c2"], "block carol/c2 only", r)
    c2.send("<message to='alice@localhost/a1' id='c4' type='chat'><body>x</body></message>")
    m = c2.take(rb"<message[^>]*id='c4'.*?</message>")
    check(m and b"<service-unavailable" in m.group(0), "carol/c2 is refused", repr(m and m.group(0)))
    carol.send("<message to='alice@localhost/a1' id='c5' type='chat'><body>y</body></message>")
    check(a1.take(rb"<message[^>]*id='c5'.*?</message>"), "carol/c1 still reaches alice")

    # Unblock everything.
    iq(a1, "b6", "set:<block xmlns='%s'><item jid='example.org'/></block>" % NS)
    push(a2, "block")
    check(len(blocklist(a2, "l3")) == 2, "two items before the unblock of all")
    r = iq(a1, "u2", "set:<unblock xmlns='%s'/>" % NS)
    check("type='result'" in r, "unblock all: result", r)
    check(push(a2, "unblock") == [], "a2 gets the unblock-all push (no items)")
    check(blocklist(a2, "l4") == [], "the blocklist is empty")
    c2.send("<message to='alice@localhost/a1' id='c6' type='chat'><body>z</body></message>")
    check(a1.take(rb"<message[^>]*id='c6'.*?</message>"), "carol/c2 reaches alice after the unblock")

    # MUC: alice and carol in room blk@conference.localhost. Control: carol's
    # groupchat reaches alice. alice blocks the room: carol's next groupchat
    # reaches carol (reflected) but not alice, and alice's own groupchat to
    # the room is refused with <blocked/> and reaches nobody. Unblocking the
    # room lets both through again.
    room = "blk@conference.localhost"
    a1.send("<presence to='%s/al'><x xmlns='http://jabber.org/protocol/muc'/></presence>" % room)
    check(a1.take(rb"<message[^>]*type='groupchat'[^>]*><subject"), "alice joins the room")
    carol.send("<presence to='%s/ca'><x xmlns='http://jabber.org/protocol/muc'/></presence>" % room)
    check(carol.take(rb"<message[^>]*type='groupchat'[^>]*><subject"), "carol joins the room")
    a1.ping("m0")
    carol.send("<message to='%s' id='g0' type='groupchat'><body>g0</body></message>" % room)
    check(a1.take(rb"<message[^>]*id='g0'.*?</message>"), "control: carol's groupchat reaches alice")
    r = iq(a1, "b7", "set:<block xmlns='%s'><item jid='%s'/></block>" % (NS, room))
    check("type='result'" in r and push(a2, "block") == [room], "alice blocks the room", r)
    carol.send("<message to='%s' id='g1' type='groupchat'><body>g1</body></message>" % room)
    check(carol.take(rb"<message[^>]*id='g1'.*?</message>"), "carol's groupchat is reflected to carol")
    before = a1.ping("m1")
    check(before is not None and b"g1" not in before, "nothing from the blocked room reaches alice",
          repr(before))
    a1.send("<message to='%s' id='g2' type='groupchat'><body>g2</body></message>" % room)
    m = a1.take(rb"<message[^>]*id='g2'.*?</message>")
    check(m and b"<not-acceptable" in m.group(0) and b"<blocked xmlns='urn:xmpp:blocking:errors'/>" in m.group(0),
          "alice's groupchat to the blocked room: not-acceptable with <blocked/>", repr(m and m.group(0)))
    before = carol.ping("m2")
    check(before is not None and b"g2" not in before, "alice's groupchat reaches nobody", repr(before))
    r = iq(a1, "u3", "set:<unblock xmlns='%s'><item jid='%s'/></unblock>" % (NS, room))
    check("type='result'" in r and push(a2, "unblock") == [room], "alice unblocks the room", r)
    carol.send("<message to='%s' id='g3' type='groupchat'><body>g3</body></message>" % room)
    check(a1.take(rb"<message[^>]*id='g3'.*?</message>"), "control: the room reaches alice again")
    a1.send("<presence to='%s/al' type='unavailable'/>" % room)
    carol.send("<presence to='%s/ca' type='unavailable'/>" % room)
    for c in (a1, a2, carol, c2):
        c.close()


def set_phase():
    d = conn("dave", "d1", presence=False)
    r = iq(d, "b1", "set:<block xmlns='%s'><item jid='eve@localhost'/><item jid='example.org'/></block>" % NS)
    check("type='result'" in r, "dave blocks eve and example.org", r)
    check(blocklist(d, "l1") == ["eve@localhost", "example.org"], "dave's list holds both")
    d.close()


def kept():
    d = conn("dave", "d1", presence=False)
    check(blocklist(d, "l1") == ["eve@localhost", "example.org"], "dave's list survived the restart")
    d.close()


{"live": live, "set": set_phase, "kept": kept}[PHASE]()
sys.exit(xtest.failures)
