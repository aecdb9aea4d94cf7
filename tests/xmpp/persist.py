#!/usr/bin/python3
"""Rosters, subscriptions and offline messages across server restarts
(the store enclave), with Debian's slixmpp.

Usage: persist.py PORT CA_FILE PHASE
  PHASE before: alice and bob subscribe to each other (both); alice names
                carol in her roster (name, group), adds and removes erin,
                asks dave (offline) for a subscription, sends bob (offline)
                two messages and carol (offline) 100, her quota.
  PHASE after:  (after a restart) alice's roster still has bob 'both',
                carol with her name and group, dave pending, and not erin;
                bob's has alice 'both'; bob gets the two messages, in order,
                with delay stamps; carol's full offline queue (100) still
                refuses one more, and she gets the 100 in order; dave gets
                alice's request at login.
  PHASE again:  (after another restart, in the one-enclave deployment on
                the same files) bob gets no message again (the delivery was
                kept too); the rosters are still there, with dave 'both'
                (his client accepted and asked back in phase after).
  PHASE burst:  alice sends offline frank 80 messages in one write, then a
                ping; the server is stopped as soon as the ping is answered.
  PHASE burst-kept: (after a restart) frank gets all 80, in order.
Needs users alice, bob, carol, dave, frank (passwords NAME-pw). Prints 'ok NAME' or
'FAIL NAME: why'; exits with the number of failures.
"""
import asyncio
import logging
import re
import ssl
import sys

import slixmpp

import xtest  # beside this script

PORT = int(sys.argv[1])
CA = sys.argv[2]
PHASE = sys.argv[3]
T = 10


def check(cond, name, why=""):
    return xtest.check(cond, PHASE + " " + name, why)


class Client(slixmpp.ClientXMPP):
    def __init__(self, user, res, presence=True):
        super().__init__("%s@localhost/%s" % (user, res), user + "-pw")
        self.ssl_context = ssl.create_default_context(cafile=CA)
        loop = asyncio.get_event_loop()
        self.started = loop.create_future()
        self.failed = loop.create_future()
        self.inbox = asyncio.Queue()
        self.requests = asyncio.Queue()
        self.auto_presence = presence
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("failed_all_auth", lambda _: self.failed.done() or self.failed.set_result(1))
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("message_error", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("presence_subscribe", lambda p: self.requests.put_nowait(str(p["from"])))

    async def _start(self, _):
        if self.auto_presence:
            self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    async def login(self):
        self.connect(("127.0.0.1", PORT), force_starttls=True, disable_starttls=False)
        await asyncio.wait([self.started, self.failed], timeout=T, return_when=asyncio.FIRST_COMPLETED)
        return self.started.done()

    async def items(self):
        r = await self.get_roster(timeout=T)
        return {str(j): it for j, it in r["roster"]["items"].items()}


async def rosters_kept(alice, bob, dave_sub="none"):
    a = await alice.items()
    b = await bob.items()
    ab = a.get("bob@localhost")
    check(ab is not None and ab["subscription"] == "both", "alice's roster: bob 'both'", str(a))
    ba = b.get("alice@localhost")
    check(ba is not None and ba["subscription"] == "both", "bob's roster: alice 'both'", str(b))
    ac = a.get("carol@localhost")
    check(ac is not None and ac["name"] == "Carol" and list(ac["groups"]) == ["friends"],
          "alice's roster: carol named, in group friends", str(ac))
    check("erin@localhost" not in a, "alice's roster: removed erin stays removed", str(a))
    ad = a.get("dave@localhost")
    if dave_sub == "none":
        check(ad is not None and ad["subscription"] == "none" and ad["ask"] == "subscribe",
              "alice's roster: dave pending (ask)", str(ad))
    else:  # dave's client accepted and asked back at his login (phase after)
        check(ad is not None and ad["subscription"] == dave_sub, "alice's roster: dave " + dave_sub,
              str(ad))


async def before():
    alice, bob = Client("alice", "a1"), Client("bob", "b1")
    if not (await alice.login() and await bob.login()):
        check(False, "logins")
        return
    await bob.get_roster(timeout=T)
    await alice.get_roster(timeout=T)
    # slixmpp accepts and subscribes back by default: both ends reach 'both'.
    alice.send_presence(pto="bob@localhost", ptype="subscribe")
    await asyncio.sleep(1.5)
    await alice.update_roster("carol@localhost", name="Carol", groups=["friends"], timeout=T)
    # An item added, then removed: it must not come back.
    await alice.update_roster("erin@localhost", name="Erin", timeout=T)
    await alice.del_roster_item("erin@localhost")
    alice.send_presence(pto="dave@localhost", ptype="subscribe")
    await asyncio.sleep(0.5)
    await rosters_kept(alice, bob)
    gone = asyncio.get_event_loop().create_future()
    bob.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
    bob.disconnect()
    await asyncio.wait_for(gone, T)
    await asyncio.sleep(0.5)
    for i in range(2):
        alice.send_message(mto="bob@localhost", mbody="kept %d" % i, mtype="chat")
    await asyncio.sleep(0.5)
    check(alice.inbox.empty(), "messages to offline bob accepted")
    # A full offline queue (the quota, 100) for carol, who never logs in here.
    for i in range(100):
        alice.send_message(mto="carol@localhost", mbody="bulk %d" % i, mtype="chat")
    await asyncio.sleep(1.0)
    check(alice.inbox.empty(), "100 messages to offline carol accepted")
    alice.disconnect()
    await asyncio.sleep(1.0)  # the store has synced what the router sent


async def after(again):
    alice = Client("alice", "a2")
    bob = Client("bob", "b2", presence=False)
    if not (await alice.login() and await bob.login()):
        check(False, "logins")
        return
    await rosters_kept(alice, bob, "both" if again else "none")
    bob.send_presence()
    got = []
    try:
        while len(got) < 2:
            got.append(await asyncio.wait_for(bob.inbox.get(), 3 if again else T))
    except asyncio.TimeoutError:
        pass
    bodies = [m["body"] for m in got]
    if again:
        check(bodies == [], "no offline message delivered twice", str(bodies))
    else:
        check(bodies == ["kept 0", "kept 1"], "offline messages kept, in order", str(bodies))
        delays = [m.xml.find("{urn:xmpp:delay}delay") for m in got]
        check(len(delays) == 2 and all(d is not None and d.get("stamp") for d in delays),
              "offline messages keep their delay stamps")
        # Carol's queue came back full: one more is refused (the quota holds
        # across the restart), then she gets the 100, in order.
        alice.send_message(mto="carol@localhost", mbody="one too many", mtype="chat")
        try:
            m = await asyncio.wait_for(alice.inbox.get(), T)
            check(m["type"] == "error" and m["error"]["condition"] == "service-unavailable",
                  "the offline quota holds after a restart", str(m))
        except asyncio.TimeoutError:
            check(False, "the offline quota holds after a restart", "no error")
        carol = Client("carol", "c1")
        if await carol.login():
            got = []
            try:
                while len(got) < 100:
                    got.append((await asyncio.wait_for(carol.inbox.get(), T))["body"])
            except asyncio.TimeoutError:
                pass
            check(got == ["bulk %d" % i for i in range(100)], "100 offline messages back, in order",
                  "%d: %s" % (len(got), got[:3]))
            carol.disconnect()
        else:
            check(False, "carol login")
        dave = Client("dave", "d1")
        if await dave.login():
            try:
                who = await asyncio.wait_for(dave.requests.get(), T)
                check(who == "alice@localhost", "dave gets alice's request at login", who)
            except asyncio.TimeoutError:
                check(False, "dave gets alice's request at login", "nothing")
            dave.disconnect()
        else:
            check(False, "dave login")
    alice.disconnect()
    bob.disconnect()
    await asyncio.sleep(1.0)


BURST = 80


def burst():
    """Raw stream: the 80 messages and the ping in one write; the ping's
    answer comes after the router took all of them (in order, RFC 6120
    §10.1), and then the caller stops the server at once."""
    a = xtest.Conn(PORT, CA)
    if not check(a.login("alice", "alice-pw", "burst"), "alice logs in"):
        return
    a.send("".join("<message to='frank@localhost' id='b%d' type='chat'><body>burst %d</body></message>"
                   % (i, i) for i in range(BURST)))
    before = a.ping("bp")
    check(before is not None and b"type='error'" not in before, "%d messages to offline frank taken" % BURST,
          repr(before)[:200])
    a.close()


def burst_kept():
    f = xtest.Conn(PORT, CA)
    if not check(f.login("frank", "frank-pw", "f1", presence=False), "frank logs in"):
        return
    f.send("<presence/>")
    got = []
    for _ in range(BURST):
        m = f.take(rb"<message[^>]*>.*?</message>")
        if m is None:
            break
        b = re.search(rb"<body>burst (\d+)</body>", m.group(0))
        if b:
            got.append(int(b.group(1)))
    check(got == list(range(BURST)), "frank gets the %d messages, in order" % BURST, str(got[:10]) + "...")
    f.close()


async def main():
    logging.basicConfig(level=logging.ERROR)
    if PHASE == "burst":
        burst()
    elif PHASE == "burst-kept":
        burst_kept()
    elif PHASE == "before":
        await before()
    else:
        await after(PHASE == "again")


asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 90))
sys.exit(xtest.failures)
