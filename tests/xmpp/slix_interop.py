#!/usr/bin/python3
"""Interoperability of the XMPP example with Debian's slixmpp 1.8.3.

Usage: slix_interop.py PORT CA_FILE
Needs users alice (password alice-pw) and bob (bob-pw) in the server's store.
Each check prints 'ok NAME' or 'FAIL NAME: why'; the exit status is the
number of failures. Every wait has a hard timeout (10 s).
"""
import asyncio
import base64
import hashlib
import hmac
import logging
import ssl
import sys

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

import xtest  # beside this script

PORT = int(sys.argv[1])
CA = sys.argv[2]
T = 10


check = xtest.check


class Client(slixmpp.ClientXMPP):
    def __init__(self, jid, password, mech=None, presence=True):
        kw = {"sasl_mech": mech} if mech else {}
        super().__init__(jid, password, **kw)
        self.ssl_context = ssl.create_default_context(cafile=CA)
        self.ssl_context.check_hostname = True
        self.started = asyncio.get_event_loop().create_future()
        self.failed = asyncio.get_event_loop().create_future()
        self.inbox = asyncio.Queue()
        self.mechs_tried = []
        self.success_v = None
        self.auto_presence = presence
        self.carbons = asyncio.Queue()
        self.add_event_handler("carbon_received", lambda m: self.carbons.put_nowait(m))
        self.register_plugin("xep_0280")
        self.add_event_handler("session_start", self._start)
        self.add_event_handler("failed_all_auth", self._fail)
        self.add_event_handler("failed_auth", lambda e: self.mechs_tried.append("x"))
        self.add_event_handler("message", lambda m: self.inbox.put_nowait(m))
        self.add_event_handler("message_error", lambda m: self.inbox.put_nowait(m))
        self.kicked = asyncio.get_event_loop().create_future()
        self.add_event_handler("stream_error", self._stream_error)
        self.register_plugin("xep_0030")
        self.register_plugin("xep_0199")
        # The raw <success/> payload, to check v= (RFC 6120 §6.4.6).
        self.add_event_handler("auth_success", self._success)

    def _stream_error(self, err):
        if not self.kicked.done():
            self.kicked.set_result(err["condition"])

    def _success(self, stanza):
        try:
            self.success_v = base64.b64decode(stanza.xml.text or "")
        except Exception:
            self.success_v = b"?"

    async def _start(self, _):
        if self.auto_presence:
            self.send_presence()
        if not self.started.done():
            self.started.set_result(True)

    def _fail(self, _):
        if not self.failed.done():
            self.failed.set_result(True)

    async def login(self):
        self.connect(("127.0.0.1", PORT), force_starttls=True, disable_starttls=False)
        done, _ = await asyncio.wait([self.started, self.failed], timeout=T,
                                     return_when=asyncio.FIRST_COMPLETED)
        return self.started.done()


async def main():
    logging.basicConfig(level=logging.ERROR)
    alice = Client("alice@localhost/t1", "alice-pw")
    bob = Client("bob@localhost/t2", "bob-pw")
    ok_a = await alice.login()
    ok_b = await bob.login()
    check(ok_a and str(alice.boundjid) == "alice@localhost/t1", "L1 alice login SCRAM-SHA-256 over STARTTLS",
          "boundjid=%s" % alice.boundjid)
    check(ok_b, "L1 bob login")
    if not (ok_a and ok_b):
        return
    check(alice.is_secure if hasattr(alice, "is_secure") else True, "TLS on")
    mech = alice.plugin["feature_mechanisms"].mech
    check(mech is not None and mech.name == "SCRAM-SHA-256", "SCRAM-SHA-256 chosen",
          getattr(mech, "name", None))
    check(alice.success_v is not None and alice.success_v.startswith(b"v="),
          "success carries v=", repr(alice.success_v))

    # Messages both ways, to bare and full JIDs (M1).
    await asyncio.sleep(0.3)  # both presences are in
    alice.send_message(mto="bob@localhost", mbody="hello bob <&>", mtype="chat")
    try:
        m = await asyncio.wait_for(bob.inbox.get(), T)
        check(m["body"] == "hello bob <&>" and str(m["from"]) == "alice@localhost/t1"
              and m["type"] == "chat", "M1 alice->bob", "%s from %s" % (m["body"], m["from"]))
    except asyncio.TimeoutError:
        check(False, "M1 alice->bob", "timeout")
    bob.send_message(mto="alice@localhost/t1", mbody="hi alice", mtype="chat")
    try:
        m = await asyncio.wait_for(alice.inbox.get(), T)
        check(m["body"] == "hi alice" and str(m["from"]) == "bob@localhost/t2", "M1 bob->alice full JID")
    except asyncio.TimeoutError:
        check(False, "M1 bob->alice full JID", "timeout")
    # Spoofed from (E9): arrives with alice's JID.
    spoof = alice.make_message(mto="bob@localhost", mbody="spoof", mtype="chat")
    spoof["from"] = "carol@localhost/x"
    spoof.send()
    try:
        m = await asyncio.wait_for(bob.inbox.get(), T)
        check(str(m["from"]) == "alice@localhost/t1", "E9 from is stamped", str(m["from"]))
    except asyncio.TimeoutError:
        check(False, "E9 from is stamped", "timeout")

    # Roster get: a result with a <query/> (spec §1.5).
    try:
        r = await alice.get_roster(timeout=T)
        check(r is not None and r["type"] == "result" and r.xml.find("{jabber:iq:roster}query") is not None,
              "roster get returns <query/>")
    except (IqError, IqTimeout) as e:
        check(False, "roster get returns <query/>", repr(e))

    # Ping: to the domain and with no 'to' (S1), and to bob's full JID (bob answers).
    for name, to in (("S1 ping domain", "localhost"), ("S1 ping bob full JID", "bob@localhost/t2")):
        try:
            rtt = await alice.plugin["xep_0199"].ping(jid=to, timeout=T)
            check(rtt is not None, name)
        except (IqError, IqTimeout) as e:
            check(False, name, repr(e))
    iq = alice.make_iq_get(queryxmlns=None)
    iq.append(slixmpp.xmlstream.ET.Element("{urn:xmpp:ping}ping"))
    try:
        r = await iq.send(timeout=T)
        check(r["type"] == "result", "S1 ping with no to")
    except (IqError, IqTimeout) as e:
        check(False, "S1 ping with no to", repr(e))

    # Disco#info to the domain (S2).
    try:
        info = await alice.plugin["xep_0030"].get_info(jid="localhost", timeout=T)
        feats = info["disco_info"]["features"]
        ids = info["disco_info"]["identities"]
        check(str(info["from"]) == "localhost" and "urn:xmpp:ping" in feats and
              any(i[0] == "server" and i[1] == "im" for i in ids), "S2 disco#info domain",
              "%s %s %s" % (info["from"], feats, ids))
    except (IqError, IqTimeout) as e:
        check(False, "S2 disco#info domain", repr(e))
    # Unknown iq get (S3): service-unavailable, same id; to an offline full JID too.
    for name, to in (("S3 unknown iq to domain", "localhost"), ("S3 iq to offline full JID", "bob@localhost/gone")):
        iq = alice.make_iq_get(queryxmlns="urn:example:nothing", ito=to)
        try:
            await iq.send(timeout=T)
            check(False, name, "got a result")
        except IqError as e:
            check(e.iq["error"]["condition"] == "service-unavailable" and e.iq["id"] == iq["id"], name,
                  e.iq["error"]["condition"])
        except IqTimeout:
            check(False, name, "no reply")
    # A message to nobody (M4) gets service-unavailable.
    alice.send_message(mto="nobody@localhost", mbody="x", mtype="chat")
    try:
        m = await asyncio.wait_for(alice.inbox.get(), T)
        check(m["type"] == "error" and m["error"]["condition"] == "service-unavailable",
              "M4 message to nobody", m["error"]["condition"])
    except asyncio.TimeoutError:
        check(False, "M4 message to nobody", "timeout")

    # Roster set (M6): result to r1, pushes to r1 and r2 (no from); a new
    # session's roster get shows the item; remove pushes 'remove'.
    r2 = Client("alice@localhost/r2", "alice-pw")
    pushes = asyncio.Queue()
    r2.add_event_handler("roster_update", lambda iq: pushes.put_nowait(iq))
    if await r2.login():
        try:
            await r2.get_roster(timeout=T)
            await asyncio.sleep(0.2)
            while not pushes.empty():  # the get's own result fires roster_update too
                pushes.get_nowait()
            await alice.update_roster("carol@localhost", name="Carol", groups=["friends"], timeout=T)
            p = await asyncio.wait_for(pushes.get(), T)
            items = p["roster"]["items"]
            it = items.get(slixmpp.JID("carol@localhost"))
            check(it is not None and it["name"] == "Carol" and it["groups"] == ["friends"] and
                  str(p["from"]) == "", "M6 roster push to the other resource (no from)", str(items))
            r3 = Client("alice@localhost/r3", "alice-pw")
            await r3.login()
            r = await r3.get_roster(timeout=T)
            got = r["roster"]["items"]
            check(slixmpp.JID("carol@localhost") in got and got[slixmpp.JID("carol@localhost")]["name"] == "Carol",
                  "M6 new session sees the item", str(got))
            r3.disconnect()
            await alice.del_roster_item("carol@localhost")
            p = await asyncio.wait_for(pushes.get(), T)
            it = p["roster"]["items"].get(slixmpp.JID("carol@localhost"))
            check(it is not None and it["subscription"] == "remove", "M6 remove pushed", str(p))
        except (IqError, IqTimeout, asyncio.TimeoutError) as e:
            check(False, "M6 roster set", repr(e))
        r2.disconnect()
    else:
        check(False, "M6 second alice login")

    # Subscription (M5): alice subscribes to bob (slixmpp auto-accepts and
    # subscribes back): both rosters reach 'both' and each sees the other
    # online; bob's TCP drop makes alice see him unavailable.
    bob_av = asyncio.Queue()
    alice.add_event_handler("got_online", lambda p: bob_av.put_nowait(("on", str(p["from"]))))
    alice.add_event_handler("got_offline", lambda p: bob_av.put_nowait(("off", str(p["from"]))))
    await bob.get_roster(timeout=T)  # bob's client learns its roster from pushes
    alice.send_presence(pto="bob@localhost", ptype="subscribe")
    try:
        ev = await asyncio.wait_for(bob_av.get(), T)
        check(ev == ("on", "bob@localhost/t2"), "M5 alice sees bob online", str(ev))
        await asyncio.sleep(0.5)
        ra = alice.client_roster["bob@localhost"]["subscription"]
        rb = bob.client_roster["alice@localhost"]["subscription"]
        check(ra == "both" and rb == "both", "M5 both rosters 'both'", "%s %s" % (ra, rb))
        srv = await alice.get_roster(timeout=T)
        it = srv["roster"]["items"].get(slixmpp.JID("bob@localhost"))
        check(it is not None and it["subscription"] == "both", "M5 server roster 'both'", str(it))
    except (asyncio.TimeoutError, IqError, IqTimeout) as e:
        check(False, "M5 subscription", repr(e))

    # A subscription request to an offline user (M7) reaches her at her
    # next login.
    alice.send_presence(pto="carol@localhost", ptype="subscribe")
    await asyncio.sleep(0.3)
    carol = Client("carol@localhost/c1", "carol-pw")
    asked = asyncio.get_event_loop().create_future()
    carol.add_event_handler("presence_subscribe",
                            lambda p: asked.done() or asked.set_result(str(p["from"])))
    if await carol.login():
        try:
            who = await asyncio.wait_for(asked, T)
            check(who == "alice@localhost", "M7 subscribe delivered at the next login", who)
        except asyncio.TimeoutError:
            check(False, "M7 subscribe delivered at the next login", "nothing")
        carol.disconnect()
    else:
        check(False, "M7 carol login")

    # Carbons (M9): bob's message to alice/t1 is copied to alice/r2.
    alice2 = Client("alice@localhost/r2", "alice-pw")
    if await alice2.login():
        try:
            await alice2.plugin["xep_0280"].enable(timeout=T)
            await asyncio.sleep(0.2)
            bob.send_message(mto="alice@localhost/t1", mbody="carbon me", mtype="chat")
            m = await asyncio.wait_for(alice2.carbons.get(), T)
            fwd = m["carbon_received"]
            check(fwd["body"] == "carbon me" and str(fwd["from"]) == "bob@localhost/t2",
                  "M9 carbons: copy to the other resource", "%s" % fwd)
            m = await asyncio.wait_for(alice.inbox.get(), T)
            check(m["body"] == "carbon me", "M9 the addressed resource got it")
            # Disabled: no copy (the router skips carbons when no session
            # has them on); enabled again: copies again.
            await alice2.plugin["xep_0280"].disable(timeout=T)
            bob.send_message(mto="alice@localhost/t1", mbody="no copy", mtype="chat")
            m = await asyncio.wait_for(alice.inbox.get(), T)
            await asyncio.sleep(0.3)
            check(m["body"] == "no copy" and alice2.carbons.empty(),
                  "M9 carbons disabled: no copy", str(alice2.carbons.qsize()))
            await alice2.plugin["xep_0280"].enable(timeout=T)
            bob.send_message(mto="alice@localhost/t1", mbody="copy again", mtype="chat")
            m = await asyncio.wait_for(alice2.carbons.get(), T)
            check(m["carbon_received"]["body"] == "copy again", "M9 carbons enabled again")
            await asyncio.wait_for(alice.inbox.get(), T)
        except (IqError, IqTimeout, asyncio.TimeoutError) as e:
            check(False, "M9 carbons", repr(e))
        alice2.disconnect()
    else:
        check(False, "M9 second alice login")
    # A session that ended with carbons on and a new one that enables them:
    # the new one gets copies.
    await asyncio.sleep(0.3)
    alice3 = Client("alice@localhost/r3", "alice-pw")
    if await alice3.login():
        try:
            await alice3.plugin["xep_0280"].enable(timeout=T)
            bob.send_message(mto="alice@localhost/t1", mbody="to r3 too", mtype="chat")
            m = await asyncio.wait_for(alice3.carbons.get(), T)
            check(m["carbon_received"]["body"] == "to r3 too", "M9 carbons after a session ended")
            await asyncio.wait_for(alice.inbox.get(), T)
        except (IqError, IqTimeout, asyncio.TimeoutError) as e:
            check(False, "M9 carbons after a session ended", repr(e))
        alice3.disconnect()
    else:
        check(False, "M9 third alice login")

    # Offline storage (M3): bob offline, alice sends 3; none before bob's
    # presence, all 3 in order after it with a delay from the domain; none
    # on a second login.
    gone = asyncio.get_event_loop().create_future()
    bob.add_event_handler("disconnected", lambda _: gone.done() or gone.set_result(True))
    bob.abort()  # a TCP drop, no </stream:stream> (spec M5)
    await asyncio.wait_for(gone, T)
    try:
        while True:
            ev = await asyncio.wait_for(bob_av.get(), 5)
            if ev[0] == "off" and ev[1].startswith("bob@"):
                break
        check(ev == ("off", "bob@localhost/t2"), "M5 bob's close seen by alice", str(ev))
    except asyncio.TimeoutError:
        check(False, "M5 bob's close seen by alice", "nothing in 5 s")
    await asyncio.sleep(0.3)
    for i in range(3):
        alice.send_message(mto="bob@localhost", mbody="offline %d" % i, mtype="chat")
    await asyncio.sleep(0.3)
    check(alice.inbox.empty(), "M3 messages to an offline user are accepted (no error)")
    bob = Client("bob@localhost/t2", "bob-pw", presence=False)
    ok = await bob.login()
    await asyncio.sleep(0.5)
    check(ok and bob.inbox.empty(), "M3 nothing before presence")
    bob.send_presence()
    got = []
    try:
        for i in range(3):
            got.append(await asyncio.wait_for(bob.inbox.get(), T))
    except asyncio.TimeoutError:
        pass
    bodies = [m["body"] for m in got]
    delays = [m.xml.find("{urn:xmpp:delay}delay") for m in got]
    check(bodies == ["offline 0", "offline 1", "offline 2"], "M3 three messages in order", str(bodies))
    check(len(delays) == 3 and all(d is not None and d.get("from") == "localhost" and d.get("stamp")
                                   for d in delays), "M3 delay stamps from the domain")
    bob3 = Client("bob@localhost/t9", "bob-pw")
    await bob3.login()
    await asyncio.sleep(0.5)
    check(bob3.inbox.empty(), "M3 none on a second login")
    bob3.disconnect()

    # M2: a message to an offline full JID falls back to the bare JID (the
    # available resource gets it); M4: past the offline quota (100), a
    # message to an offline user gets service-unavailable with its id.
    alice.send_message(mto="bob@localhost/nonexistent", mbody="fallback", mtype="chat")
    try:
        m = await asyncio.wait_for(bob.inbox.get(), T)
        check(m["body"] == "fallback", "M2 offline full JID falls back to the bare JID", m["body"])
    except asyncio.TimeoutError:
        check(False, "M2 offline full JID falls back to the bare JID", "timeout")
    for i in range(100):
        alice.send_message(mto="dave@localhost", mbody="q%d" % i, mtype="chat")
    over = alice.make_message(mto="dave@localhost", mbody="one too many", mtype="chat")
    over["id"] = "quota1"
    over.send()
    try:
        m = await asyncio.wait_for(alice.inbox.get(), T)
        check(m["type"] == "error" and m["error"]["condition"] == "service-unavailable" and m["id"] == "quota1",
              "M4 offline quota full: service-unavailable", "%s %s" % (m["id"], m["error"]["condition"]))
    except asyncio.TimeoutError:
        check(False, "M4 offline quota full: service-unavailable", "timeout")

    # Directed presence (RFC 6121 §4.6): dave, not a contact, sends presence
    # to carol/c2; when dave's connection ends carol hears it.
    carol = Client("carol@localhost/c2", "carol-pw", presence=False)
    dave = Client("dave@localhost/d1", "dave-pw", presence=False)
    seen = asyncio.Queue()
    carol.add_event_handler("presence_available", lambda p: seen.put_nowait(("on", str(p["from"]))))
    carol.add_event_handler("presence_unavailable", lambda p: seen.put_nowait(("off", str(p["from"]))))
    if await carol.login() and await dave.login():
        dave.send_presence(pto="carol@localhost/c2")
        try:
            ev = await asyncio.wait_for(seen.get(), T)
            check(ev == ("on", "dave@localhost/d1"), "directed presence delivered", str(ev))
            dave.disconnect()
            ev = await asyncio.wait_for(seen.get(), T)
            check(ev == ("off", "dave@localhost/d1"), "directed presence target hears the close", str(ev))
        except asyncio.TimeoutError:
            check(False, "directed presence", "timeout")
        carol.disconnect()
    else:
        check(False, "directed presence logins")

    # SCRAM-SHA-1 and PLAIN over TLS (L2).
    for mech in ("SCRAM-SHA-1", "PLAIN"):
        c = Client("alice@localhost/" + mech, "alice-pw", mech=mech)
        ok = await c.login()
        check(ok, "L2 login with " + mech)
        c.disconnect()

    # Bad password (E1): fails cleanly, no session, failed_all_auth fires.
    bad = Client("alice@localhost/bad", "wrong")
    ok = await bad.login()
    check(not ok and bad.failed.done(), "E1 bad password refused", "tried %d" % len(bad.mechs_tried))
    # slixmpp tries every mechanism offered after TLS: SCRAM-SHA-256,
    # SCRAM-SHA-1 and PLAIN, each refused with <not-authorized/>.
    check(len(bad.mechs_tried) == 3, "E1 failed_auth once per offered mechanism", "%d" % len(bad.mechs_tried))
    bad.disconnect()
    unk = Client("nobody@localhost/x", "whatever")
    ok = await unk.login()
    check(not ok and unk.failed.done() and len(unk.mechs_tried) == 3, "E1 unknown user refused",
          "tried %d" % len(unk.mechs_tried))
    unk.disconnect()

    # Same full JID twice (L5): the old session is replaced, the new works.
    dup = Client("bob@localhost/t2", "bob-pw")
    ok = await dup.login()
    check(ok, "L5 same full JID: new session works")
    try:
        cond = await asyncio.wait_for(bob.kicked, T)
        check(cond == "conflict", "L5 old session gets the conflict stream error", cond)
    except asyncio.TimeoutError:
        check(False, "L5 old session gets the conflict stream error", "nothing")
    bob.disconnect()
    dup.disconnect()
    alice.disconnect()
    await asyncio.sleep(0.5)


asyncio.get_event_loop().run_until_complete(asyncio.wait_for(main(), 120))
sys.exit(xtest.failures)
