#!/usr/bin/python3
"""The MUC subset (spec M10, S2's conference item) with Debian's slixmpp.

Usage: muc.py PORT CA_FILE
Needs users alice, bob, carol and dave (password NAME-pw) in the store.
Each check prints 'ok NAME' or 'FAIL NAME: why'; the exit status is the
number of failures. Every wait has a hard timeout (10 s).
"""
import asyncio
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout, PresenceError

import xtest  # beside this script

PORT = int(sys.argv[1])
CA = sys.argv[2]
T = 10
SERVICE = "conference.localhost"
ROOM = "lounge@" + SERVICE


check = xtest.check


class Client(slixmpp.ClientXMPP):
    def __init__(self, user):
        super().__init__("%s@localhost/m" % user, user + "-pw")
        self.ssl_context = ssl.create_default_context(cafile=CA)
        self.started = asyncio.get_event_loop().create_future()
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0045")
        self.pres = asyncio.Queue()  # presence from the room's occupants
        self.msgs = asyncio.Queue()  # groupchat from the room
        self.subjects = asyncio.Queue()
        self.perr = asyncio.Queue()  # presence errors from the room
        self.add_event_handler("muc::%s::presence-error" % ROOM, self.perr.put_nowait)
        self.errors = asyncio.Queue()
        self.chats = asyncio.Queue()  # private messages through the room
        self.add_event_handler("message", lambda m: m["type"] == "chat" and self.chats.put_nowait(m))
        self.add_event_handler("muc::%s::presence" % ROOM, self.pres.put_nowait)
        self.add_event_handler("muc::%s::message" % ROOM, self.msgs.put_nowait)
        self.add_event_handler("muc::%s::groupchat_subject" % ROOM, self.subjects.put_nowait)
        self.add_event_handler("message_error", self.errors.put_nowait)
        self.add_event_handler("session_start", self._start)

    def _start(self, _):
        self.send_presence()
        self.started.done() or self.started.set_result(True)

    async def login(self):
        self.connect(("127.0.0.1", PORT), force_starttls=True, disable_starttls=False)
        try:
            await asyncio.wait_for(asyncio.shield(self.started), T)
            return True
        except asyncio.TimeoutError:
            return False


async def next_presence(c, nick, unavailable=False):
    """The next presence from ROOM/nick (others are skipped)."""
    while True:
        p = await asyncio.wait_for(c.pres.get(), T)
        if p["from"].resource == nick and (p["type"] == "unavailable") == unavailable:
            return p


def item_nick(p):
    """The nick= of the muc#user item (a nick change's new nick)."""
    ns = "{http://jabber.org/protocol/muc#user}"
    it = p.xml.find(ns + "x/" + ns + "item")
    return it.get("nick") if it is not None else None


def codes(p):
    return set(p["muc"]["status_codes"])


async def main():
    logging.basicConfig(level=logging.ERROR)
    alice, bob, carol, dave = (Client(u) for u in ("alice", "bob", "carol", "dave"))
    for c in (alice, bob, carol, dave):
        if not await c.login():
            check(False, "login " + str(c.boundjid))
            return
    muc = {c: c.plugin["xep_0045"] for c in (alice, bob, carol, dave)}

    # Discovery (S2, spec §2 XEP-0030): the domain lists the service, which
    # answers conference/text and the MUC feature.
    try:
        items = await alice.plugin["xep_0030"].get_items(jid="localhost", timeout=T)
        jids = [i[0] for i in items["disco_items"]["items"]]
        check(SERVICE in jids, "S2 disco#items on the domain lists the conference service", repr(jids))
        info = await alice.plugin["xep_0030"].get_info(jid=SERVICE, timeout=T)
        ids = info["disco_info"]["identities"]
        check("http://jabber.org/protocol/muc" in info["disco_info"]["features"] and
              any(i[0] == "conference" and i[1] == "text" for i in ids) and
              str(info["from"]) == SERVICE, "disco#info on the service: conference/text, muc",
              repr((ids, info["disco_info"]["features"])))
    except (IqError, IqTimeout) as e:
        check(False, "MUC discovery", repr(e))

    # Alice creates the room (join_muc_wait returns: 110 and the subject).
    try:
        pres, subject, occupants, _ = await muc[alice].join_muc_wait(ROOM, "Alice", timeout=T)
        check(codes(pres) >= {110, 201}, "M10 alice joins (110, 201 for a new room)", repr(codes(pres)))
        check(subject["type"] == "groupchat" and str(subject["from"]) == ROOM,
              "M10 the subject comes from the room", str(subject))
        others = [str(p["from"]) for p in occupants]
        check(others == [ROOM + "/Alice"], "M10 nobody else in a new room", repr(others))
    except (PresenceError, asyncio.TimeoutError) as e:
        check(False, "M10 alice joins", repr(e))
        return
    # Bob joins: he sees alice, she sees him.
    try:
        pres, _, occupants, _ = await muc[bob].join_muc_wait(ROOM, "Bob", timeout=T)
        check(codes(pres) == {110}, "M10 bob joins (110)", repr(codes(pres)))
        others = [str(p["from"]) for p in occupants]
        check(others == [ROOM + "/Alice", ROOM + "/Bob"], "M10 bob gets alice's presence, then his own",
              repr(others))
        item = occupants[0]["muc"] if occupants else {}
        check(occupants and item["affiliation"] == "owner" and item["role"] == "moderator",
              "M10 occupant presence carries a muc#user item", str(occupants[0] if occupants else ""))
        p = await next_presence(alice, "Bob")
        check(p["muc"]["role"] == "participant" and 110 not in codes(p), "M10 alice sees bob join")
    except (PresenceError, asyncio.TimeoutError) as e:
        check(False, "M10 bob joins", repr(e))
        return
    # Carol joins with a plain presence (no <x xmlns='…muc'/>), as old clients do.
    muc[carol].rooms[slixmpp.JID(ROOM)] = {}
    muc[carol].our_nicks[slixmpp.JID(ROOM)] = "Carol"
    carol.send_presence(pto=ROOM + "/Carol")
    try:
        seen = []
        while True:
            p = await asyncio.wait_for(carol.pres.get(), T)
            seen.append(p["from"].resource)
            if 110 in codes(p):
                break
        check(sorted(seen[:-1]) == ["Alice", "Bob"] and seen[-1] == "Carol",
              "M10 carol joins without <x/>: occupants, then herself with 110", repr(seen))
        s = await asyncio.wait_for(carol.subjects.get(), T)
        check(str(s["from"]) == ROOM and s["type"] == "groupchat", "M10 carol gets the subject", str(s))
        for c in (alice, bob):
            await next_presence(c, "Carol")
        check(True, "M10 alice and bob see carol join")
    except asyncio.TimeoutError:
        check(False, "M10 carol joins without <x/>", "timeout")
        return

    # Nick conflict: dave wants Bob.
    try:
        await muc[dave].join_muc_wait(ROOM, "Bob", timeout=T)
        check(False, "M10 a taken nick gets conflict", "joined")
    except PresenceError as e:
        check(e.condition == "conflict", "M10 a taken nick gets conflict", e.condition)
    except asyncio.TimeoutError:
        check(False, "M10 a taken nick gets conflict", "timeout")
    # A non-occupant's groupchat: not-acceptable.
    dave.send_message(mto=ROOM, mbody="let me in", mtype="groupchat")
    try:
        e = await asyncio.wait_for(dave.errors.get(), T)
        check(e["error"]["condition"] == "not-acceptable", "groupchat from a non-occupant refused",
              e["error"]["condition"])
    except asyncio.TimeoutError:
        check(False, "groupchat from a non-occupant refused", "timeout")

    # Groupchat reflected to every occupant, the sender included.
    bob.send_message(mto=ROOM, mbody="hello room <&>", mtype="groupchat")
    for c, who in ((alice, "alice"), (bob, "bob (sender)"), (carol, "carol")):
        try:
            m = await asyncio.wait_for(c.msgs.get(), T)
            check(m["body"] == "hello room <&>" and str(m["from"]) == ROOM + "/Bob" and
                  m["type"] == "groupchat", "M10 groupchat reaches " + who, str(m))
        except asyncio.TimeoutError:
            check(False, "M10 groupchat reaches " + who, "timeout")
    # A private message to one occupant, from the sender's room JID.
    alice.send_message(mto=ROOM + "/Carol", mbody="psst", mtype="chat")
    try:
        m = await asyncio.wait_for(carol.chats.get(), T)
        check(m["body"] == "psst" and str(m["from"]) == ROOM + "/Alice", "private message to an occupant",
              str(m))
    except asyncio.TimeoutError:
        check(False, "private message to an occupant", "timeout")
    try:
        info = await alice.plugin["xep_0030"].get_info(jid=ROOM, timeout=T)
        check("http://jabber.org/protocol/muc" in info["disco_info"]["features"],
              "disco#info on the room")
    except (IqError, IqTimeout) as e:
        check(False, "disco#info on the room", repr(e))

    # Errors: every get/set gets one reply.
    async def iq_error(to, ns, name):
        try:
            await alice.make_iq_get(queryxmlns=ns, ito=to).send(timeout=T)
            check(False, name, "result")
        except IqError as e:
            return e.iq["error"]["condition"]
        except IqTimeout:
            check(False, name, "timeout")
    c = await iq_error("nowhere@" + SERVICE, "http://jabber.org/protocol/disco#info", "x")
    check(c == "item-not-found", "disco#info on a missing room: item-not-found", repr(c))
    c = await iq_error(ROOM + "/Bob", "http://jabber.org/protocol/disco#info", "x")
    check(c == "service-unavailable", "an iq to an occupant: service-unavailable", repr(c))
    c = await iq_error(SERVICE, "urn:example:nothing", "x")
    check(c == "service-unavailable", "an unknown iq to the service: service-unavailable", repr(c))
    while not dave.perr.empty():  # the earlier conflict
        dave.perr.get_nowait()
    dave.send_presence(pto=ROOM)
    try:
        e = await asyncio.wait_for(dave.perr.get(), T)
        check(e["error"]["condition"] == "jid-malformed", "a join without a nick: jid-malformed",
              e["error"]["condition"])
    except asyncio.TimeoutError:
        check(False, "a join without a nick: jid-malformed", "timeout")

    # Carol leaves: unavailable to all, 110 to her.
    # (the plugin's leave_muc forgets the room at once: her 110 would be dropped)
    carol.send_presence(pto=ROOM + "/Carol", ptype="unavailable")
    try:
        p = await next_presence(carol, "Carol", unavailable=True)
        check(110 in codes(p), "M10 carol's leave: her own unavailable with 110")
        for c, who in ((alice, "alice"), (bob, "bob")):
            p = await next_presence(c, "Carol", unavailable=True)
            check(110 not in codes(p), "M10 %s sees carol leave" % who)
    except asyncio.TimeoutError:
        check(False, "M10 carol leaves", "timeout")
    # Bob's session ends (TCP closed by the client): he leaves the room.
    bob.disconnect()
    try:
        await next_presence(alice, "Bob", unavailable=True)
        check(True, "M10 bob's session end: alice sees him leave")
    except asyncio.TimeoutError:
        check(False, "M10 bob's session end: alice sees him leave", "timeout")
    # Dave can now take Bob's nick, and sees only alice.
    try:
        _, _, occupants, _ = await muc[dave].join_muc_wait(ROOM, "Bob", timeout=T)
        others = [str(p["from"]) for p in occupants]
        check(others == [ROOM + "/Alice", ROOM + "/Bob"], "the freed nick can be taken; only alice is left",
              repr(others))
    except (PresenceError, asyncio.TimeoutError) as e:
        check(False, "the freed nick can be taken", repr(e))
    # Nick change (303): dave, now Bob, becomes Dave; alice sees it; alice
    # asking for Dave then gets conflict.
    dave.send_presence(pto=ROOM + "/Dave")
    try:
        p = await next_presence(dave, "Bob", unavailable=True)
        check(codes(p) == {303, 110} and item_nick(p) == "Dave",
              "nick change: the old nick's unavailable with 303, 110 and the new nick", str(p))
        p = await next_presence(dave, "Dave")
        check(110 in codes(p), "nick change: the new nick's presence with 110")
        p = await next_presence(alice, "Bob", unavailable=True)
        check(codes(p) == {303} and item_nick(p) == "Dave", "nick change seen by alice", str(p))
        await next_presence(alice, "Dave")
        alice.send_presence(pto=ROOM + "/Dave")
        e = await asyncio.wait_for(alice.perr.get(), T)
        check(e["error"]["condition"] == "conflict", "nick change to a taken nick: conflict",
              e["error"]["condition"])
    except asyncio.TimeoutError:
        check(False, "nick change", "timeout")
    # A second session with dave's full JID replaces his (conflict): the
    # old one leaves the room, the new one is not in it.
    dave2 = Client("dave")
    if await dave2.login():
        try:
            await next_presence(alice, "Dave", unavailable=True)
            check(True, "a replaced session leaves its rooms")
        except asyncio.TimeoutError:
            check(False, "a replaced session leaves its rooms", "timeout")
    else:
        check(False, "dave's second session logs in")
    for c in (alice, carol, dave, dave2):
        c.disconnect()
    await asyncio.sleep(0.3)


asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 100))
sys.exit(xtest.failures)
