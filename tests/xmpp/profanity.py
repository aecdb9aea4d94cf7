#!/usr/bin/python3
"""Profanity 0.13.1 (Debian) against the XMPP example, driven through tmux.

Usage: profanity.py PORT CA MODE
  full   alice in profanity, bob in slixmpp (spec L4, M8, E1, and profanity's
         side of roster, subscriptions, presence and MUC)
  plain  login only (the server offers PLAIN alone after TLS: spec L3)
Needs users alice (alice-pw) and bob (bob-pw). Profanity runs in its own
tmux server (a socket in a temporary directory) with HOME and the XDG
directories there, account files written beforehand, and `-l DEBUG`; the
checks read what profanity shows (capture-pane) and its log's SENT/RECV
lines, and what the slixmpp client receives. Each check prints 'ok NAME' or
'FAIL NAME: why'; the exit status is the number of failures. Every wait
polls for its condition, with a generous limit (T seconds).
"""
import asyncio
import logging
import os
import re
import shutil
import ssl
import subprocess
import sys
import tempfile

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

import xtest  # beside this script

PORT = int(sys.argv[1])
CA = sys.argv[2]
MODE = sys.argv[3] if len(sys.argv) > 3 else "full"
T = 30


check = xtest.check


class Profanity:
    """One profanity process in a private tmux server."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="xmpp-prof-")
        self.sock = os.path.join(self.dir, "tmux.sock")
        data = os.path.join(self.dir, "data", "profanity")
        os.makedirs(data)
        os.makedirs(os.path.join(self.dir, "config", "profanity"))
        self.logfile = os.path.join(data, "logs", "profanity.log")
        self.profrc = os.path.join(self.dir, "config", "profanity", "profrc")
        accounts = ""
        for name, pw in (("alice", "alice-pw"), ("alicebad", "wrong-pw")):
            accounts += ("[%s]\nenabled=true\njid=alice@localhost\nserver=127.0.0.1\nport=%d\n"
                         "resource=prof\npassword=%s\ntls.policy=trust\n\n" % (name, PORT, pw))
        path = os.path.join(data, "accounts")
        with open(path, "w") as f:
            f.write(accounts)
        os.chmod(path, 0o600)

    def tmux(self, *args, check_rc=True):
        return subprocess.run(["tmux", "-S", self.sock] + list(args), capture_output=True,
                              text=True, check=check_rc, timeout=T)

    def start(self):
        env = "HOME=%s XDG_CONFIG_HOME=%s/config XDG_DATA_HOME=%s/data TERM=xterm" % (
            (self.dir,) * 3)
        self.tmux("new-session", "-d", "-s", "p", "-x", "220", "-y", "60",
                  "env %s profanity -l DEBUG" % env)

    def send(self, line):
        self.tmux("send-keys", "-t", "p", "-l", line)
        self.tmux("send-keys", "-t", "p", "Enter")

    def pane(self):
        r = self.tmux("capture-pane", "-p", "-J", "-t", "p", "-S", "-300", check_rc=False)
        return r.stdout

    def log(self):
        try:
            with open(self.logfile, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    async def wait(self, what, pattern, timeout=T):
        """Waits until pattern (a regex) is in the pane or the log."""
        src = self.pane if what == "pane" else self.log
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            if re.search(pattern, src(), re.M):
                return True
            await asyncio.sleep(0.2)
        if what == "pane":
            print("(waited %d s for /%s/ in the pane:)" % (timeout, pattern))
            print("\n".join(l.rstrip() for l in self.pane().splitlines() if l.strip())[-2500:])
        return False

    def alive(self):
        return self.tmux("has-session", "-t", "p", check_rc=False).returncode == 0

    def close(self):
        self.tmux("kill-server", check_rc=False)
        if not os.environ.get("XMPP_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)


def stanzas(log, kind):
    """The (line number, tag, attributes, text) of each SENT or RECV line."""
    out = []
    for n, line in enumerate(log.splitlines()):
        m = re.search(r": %s: (<(\w+)([^>]*)>.*)$" % kind, line)
        if m:
            attrs = dict(re.findall(r'([\w:.-]+)="([^"]*)"', m.group(3)))
            out.append((n, m.group(2), attrs, m.group(1)))
    return out


class Bob(slixmpp.ClientXMPP):
    def __init__(self):
        super().__init__("bob@localhost/t2", "bob-pw")
        self.ssl_context = ssl.create_default_context(cafile=CA)
        self.started = asyncio.get_event_loop().create_future()
        self.inbox = asyncio.Queue()
        self.groupchat = asyncio.Queue()
        self.presences = asyncio.Queue()
        self.register_plugin("xep_0045")
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("groupchat_message", lambda m: self.groupchat.put_nowait(m))
        self.add_event_handler("presence", lambda p: self.presences.put_nowait(p))
        # Room presence: slixmpp's MUC plugin stops the generic event for rooms.
        self.add_event_handler("groupchat_presence", lambda p: self.presences.put_nowait(p))

    def _start(self, _):
        self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    async def login(self):
        self.connect(("127.0.0.1", PORT), force_starttls=True, disable_starttls=False)
        try:
            await asyncio.wait_for(asyncio.shield(self.started), T)
            return True
        except asyncio.TimeoutError:
            return False

    async def presence_from(self, jid, pred=lambda p: True, timeout=T):
        """The next presence from jid matching pred (others are dropped)."""
        loop = asyncio.get_event_loop()
        end = loop.time() + timeout
        while True:
            left = end - loop.time()
            if left <= 0:
                return None
            try:
                p = await asyncio.wait_for(self.presences.get(), left)
            except asyncio.TimeoutError:
                return None
            if str(p["from"]) == jid and pred(p):
                return p


async def login(prof, account="alice"):
    prof.send("/connect " + account)
    return await prof.wait("pane", r"alice@localhost/prof logged in successfully")


async def plain(prof):
    ok = await login(prof)
    check(ok, "L3 profanity logs in with PLAIN alone offered", prof.pane()[-500:])
    auth = [s for s in stanzas(prof.log(), "SENT") if s[1] == "auth"]
    check(len(auth) == 1 and auth[0][2].get("mechanism") == "PLAIN", "L3 profanity used PLAIN",
          str([a[2] for a in auth]))


async def full(prof):
    # L4: login; the log's order; autoping pongs; no error but the
    # bookmarks one the spec allows (service-unavailable for jabber:iq:private).
    prof.send("/autoping set 5")
    ok = await login(prof)
    check(ok and await prof.wait("pane", r"\[online\]"), "L4 profanity /connect shows online",
          prof.pane()[-800:])
    if not ok:
        return
    carbons_sent = await prof.wait("log", r'SENT: <iq [^>]*type="set"[^>]*><enable xmlns="urn:xmpp:carbons:2"')
    await prof.wait("log", r'RECV: <iq [^>]*from="localhost"[^>]*>\s*<query xmlns="http://jabber.org/protocol/disco#info"')
    await asyncio.sleep(1)
    sent, recv = stanzas(prof.log(), "SENT"), stanzas(prof.log(), "RECV")
    roster = [s for s in recv if s[1] == "iq" and s[2].get("id") == "roster" and s[2].get("type") == "result"
              and '<query xmlns="jabber:iq:roster"' in s[3]]
    check(len(roster) == 1, "L4 roster result with <query/>", str(roster))
    if roster:
        after = [s for s in sent if s[1] == "presence" and s[0] > roster[0][0]]
        check(len(after) >= 1, "L4 initial presence after the roster result")
    info = [s for s in recv if s[1] == "iq" and s[2].get("type") == "result" and
            "disco#info" in s[3] and s[2].get("from") == "localhost"]
    check(len(info) == 1 and "urn:xmpp:ping" in info[0][3],
          "L4 disco#info result from 'localhost' lists urn:xmpp:ping", str(info)[:300])
    enable = [s for s in sent if s[1] == "iq" and '<enable xmlns="urn:xmpp:carbons:2"' in s[3]]
    res = [s for s in recv if enable and s[2].get("id") == enable[0][2].get("id")]
    check(carbons_sent and len(res) == 1 and res[0][2].get("type") == "result", "L4 carbons result",
          str(res))
    errors = [s for s in recv if s[2].get("type") == "error" and s[2].get("id") != "bookmark_init_request"]
    check(not errors, "L4 no error reply (but bookmarks' service-unavailable)", str(errors)[:400])
    check("Server error enabling message carbons" not in prof.pane(), "L4 no carbons error shown")

    # Autoping (every 5 s here instead of 60): two pings with no 'to'
    # answered, the session still up, autoping not switched off.
    pongs = 0
    loop = asyncio.get_event_loop()
    end = loop.time() + 4 * T
    while pongs < 2 and loop.time() < end:
        await asyncio.sleep(0.5)
        sent, recv = stanzas(prof.log(), "SENT"), stanzas(prof.log(), "RECV")
        pings = [s for s in sent if '<ping xmlns="urn:xmpp:ping"' in s[3]]
        ids = {s[2].get("id") for s in recv if s[1] == "iq" and s[2].get("type") == "result"}
        pongs = sum(1 for p in pings if p[2].get("id") in ids)
    check(pongs >= 2, "L4 autoping: pings answered", "%d pongs" % pongs)
    check(pings and all("to" not in p[2] for p in pings), "L4 autoping pings carry no 'to'",
          str([p[2] for p in pings]))
    rc = open(prof.profrc).read() if os.path.exists(prof.profrc) else ""
    check("autoping=0" not in rc and "Lost connection" not in prof.pane() and
          "timed out" not in prof.pane(), "L4 session still up, autoping on", rc)

    bob = Bob()
    if not await bob.login():
        check(False, "bob (slixmpp) login")
        return

    # Subscription (profanity /sub request; slixmpp accepts and asks back;
    # /sub allow): both rosters 'both', each sees the other online.
    prof.send("/sub request bob@localhost")
    check(await prof.wait("pane", r"Received authorization request from bob@localhost"),
          "subscribe: profanity shows bob's request back")
    prof.send("/sub allow bob@localhost")
    ok = await prof.wait("log", r'RECV: <iq [^>]*type="set"[^>]*><query xmlns="jabber:iq:roster">'
                                r'<item [^>]*jid="bob@localhost"[^>]*subscription="both"|'
                                r'RECV: <iq [^>]*type="set"[^>]*><query xmlns="jabber:iq:roster">'
                                r'<item [^>]*subscription="both"[^>]*jid="bob@localhost"')
    check(ok, "subscribe: profanity gets the push with subscription='both'")
    await bob.get_roster(timeout=T)
    check(bob.client_roster["alice@localhost"]["subscription"] == "both",
          "subscribe: bob's roster 'both'", bob.client_roster["alice@localhost"]["subscription"])
    check(await prof.wait("pane", r"bob@localhost \(t2\) is online"), "presence: profanity shows bob online")
    p = await bob.presence_from("alice@localhost/prof", lambda p: p["type"] == "available")
    check(p is not None, "presence: bob sees alice/prof available")

    # M8: /msg reaches slixmpp; bob's reply appears in profanity's pane.
    prof.send("/msg bob@localhost hi bob, from profanity")
    try:
        while True:
            m = await asyncio.wait_for(bob.inbox.get(), T)
            if m["body"]:
                break
        check(m["body"] == "hi bob, from profanity" and str(m["from"]) == "alice@localhost/prof" and
              m["type"] == "chat", "M8 /msg reaches slixmpp", "%s from %s" % (m["body"], m["from"]))
    except asyncio.TimeoutError:
        check(False, "M8 /msg reaches slixmpp", "timeout")
    bob.send_message(mto="alice@localhost/prof", mbody="hello profanity, from bob", mtype="chat")
    check(await prof.wait("pane", r"bob@localhost.*: hello profanity, from bob"),
          "M8 bob's reply shows in profanity's pane", prof.pane()[-600:])

    # Presence both ways: bob away shows in profanity's roster panel;
    # profanity's /away reaches bob with show and status.
    prof.send("/win 1")  # the console
    bob.send_presence(pshow="away", pstatus="lunch")
    check(await prof.wait("pane", r'bob@localhost \(t2\) is away, "lunch"'), "presence: profanity shows bob away")
    prof.send("/status set away brb")
    p = await bob.presence_from("alice@localhost/prof", lambda p: p["show"] == "away")
    check(p is not None and p["status"] == "brb", "presence: profanity's /away reaches bob",
          str(p))

    # Roster from profanity: add with a nick, seen by a new session, removed.
    prof.send("/roster add carol@localhost Carol")
    check(await prof.wait("pane", r"Roster item added: carol@localhost \(Carol\)"), "roster: /roster add")
    a2 = slixmpp.ClientXMPP("alice@localhost/r2", "alice-pw")
    a2.ssl_context = ssl.create_default_context(cafile=CA)
    up = asyncio.get_event_loop().create_future()
    a2.add_event_handler("session_start", lambda _: up.done() or up.set_result(True))
    a2.connect(("127.0.0.1", PORT), force_starttls=True, disable_starttls=False)
    try:
        await asyncio.wait_for(up, T)
        r = await a2.get_roster(timeout=T)
        it = r["roster"]["items"].get(slixmpp.JID("carol@localhost"))
        check(it is not None and it["name"] == "Carol", "roster: profanity's item seen by a new session",
              str(it))
        pushed = asyncio.get_event_loop().create_future()
        a2.add_event_handler("roster_update", lambda iq: pushed.done() or pushed.set_result(iq))
        prof.send("/roster remove carol@localhost")
        iq = await asyncio.wait_for(pushed, T)
        it = iq["roster"]["items"].get(slixmpp.JID("carol@localhost"))
        check(it is not None and it["subscription"] == "remove", "roster: /roster remove pushed", str(iq))
    except (asyncio.TimeoutError, IqError, IqTimeout) as e:
        check(False, "roster from profanity", repr(e))
    a2.disconnect()

    # MUC: /join creates the room (profanity shows it locked, /room accept
    # unlocks it); bob joins; groupchat both ways.
    prof.send("/join room1@conference.localhost nick Alice")
    check(await prof.wait("pane", r"You have joined the room as Alice, role: moderator, affiliation: owner"),
          "MUC: profanity joins (creates) the room")
    prof.send("/room accept")
    check(await prof.wait("pane", r"Room unlocked"), "MUC: /room accept gets a result")
    try:
        await asyncio.wait_for(bob.plugin["xep_0045"].join_muc_wait("room1@conference.localhost", "Bob",
                                                                      maxstanzas=0), T)
        occ = bob.plugin["xep_0045"].get_roster("room1@conference.localhost")
        check("Alice" in occ and "Bob" in occ, "MUC: bob joins and sees Alice", str(occ))
    except Exception as e:  # join_muc_wait raises on an error presence or timeout
        check(False, "MUC: bob joins", repr(e))
    check(await prof.wait("pane", r"Participants[^\n]*\n[^\n]*\bBob\b"), "MUC: profanity lists Bob as a participant")
    bob.send_message(mto="room1@conference.localhost", mbody="hi room, from bob", mtype="groupchat")
    check(await prof.wait("pane", r"Bob: hi room, from bob"), "MUC: bob's groupchat in profanity's pane")
    prof.send("hello room, from profanity")
    try:
        while True:
            m = await asyncio.wait_for(bob.groupchat.get(), T)
            if m["body"] == "hello room, from profanity":
                break
        check(str(m["from"]) == "room1@conference.localhost/Alice", "MUC: profanity's groupchat reaches bob",
              str(m["from"]))
    except asyncio.TimeoutError:
        check(False, "MUC: profanity's groupchat reaches bob", "timeout")

    # /disconnect: bob sees alice/prof unavailable, and Alice leave the room.
    prof.send("/disconnect")
    want = {"alice@localhost/prof", "room1@conference.localhost/Alice"}
    seen = []
    loop = asyncio.get_event_loop()
    end = loop.time() + T
    while want and loop.time() < end:
        try:
            p = await asyncio.wait_for(bob.presences.get(), end - loop.time())
        except asyncio.TimeoutError:
            break
        seen.append("%s %s" % (p["type"], p["from"]))
        if p["type"] == "unavailable":
            want.discard(str(p["from"]))
    check("alice@localhost/prof" not in want, "presence: profanity's /disconnect seen by bob")
    check("room1@conference.localhost/Alice" not in want, "MUC: profanity's disconnect leaves the room",
          str(seen))

    # E1: a bad password: profanity shows the failure.
    check(await prof.wait("pane", r"alice@localhost logged out successfully"), "profanity /disconnect")
    prof.send("/connect alicebad")
    check(await prof.wait("pane", r"Login failed"), "E1 profanity shows a login failure")
    fails = re.findall(r"RECV: <failure[^>]*><not-authorized/>", prof.log())
    check(len(fails) >= 1, "E1 profanity got <not-authorized/>", str(len(fails)))
    bob.disconnect()


async def main():
    logging.basicConfig(level=logging.ERROR)
    prof = Profanity()
    try:
        prof.start()
        check(await prof.wait("pane", r"Type '/help'"), "profanity starts in tmux", prof.pane()[-300:])
        await (plain(prof) if MODE == "plain" else full(prof))
        prof.send("/quit")
        loop = asyncio.get_event_loop()
        end = loop.time() + T
        while prof.alive() and loop.time() < end:
            await asyncio.sleep(0.2)
        check(not prof.alive(), "profanity quits")
    finally:
        if xtest.failures:
            sys.stdout.write("---- profanity's pane ----\n" + prof.pane()[-3000:])
        prof.close()


asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 400))
sys.exit(xtest.failures)
