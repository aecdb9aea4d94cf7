#!/usr/bin/python3
"""Checks a tsung run of tsung_sasl.xml.in (spec L6) or tsung_muc.xml.in (M10)
from tsung's own files.

Usage: tsung_stats.py LOGDIR USERS CHATS TLS [muc]
  LOGDIR  tsung's log directory (tsung.log: the statistics; tsung.dump:
          the traffic each simulated user sent and received)
  USERS   users in the run; CHATS stamped chats each user sends
  TLS     1 if the scenario used STARTTLS
  muc     the run was tsung_muc.xml.in (CHATS + 2 groupchats each, to the
          user's room), not tsung_sasl.xml.in
Each check prints 'ok NAME' or 'FAIL NAME: why'; the exit status is the
number of failures.
"""
import collections
import os
import re
import sys

import xtest  # beside this script

logdir, users, chats, tls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
muc = len(sys.argv) > 5 and sys.argv[5] == "muc"
P = "M10 (tsung)" if muc else "L6"


check = xtest.check


# tsung.log: every 10 s a block of "stats: NAME ..." lines. A counter line is
# "NAME count_in_interval total"; a sample line is "NAME count mean stddev
# max min mean_total count_total" (count_total only from the second block
# on), so a sample's count is the sum of its interval counts.
counters, samples = {}, collections.Counter()
with open(os.path.join(logdir, "tsung.log")) as f:
    for line in f:
        fields = line.split()
        if len(fields) < 4 or fields[0] != "stats:" or fields[1].startswith("{"):
            continue
        if len(fields) == 4:
            counters[fields[1]] = int(fields[3])
        else:
            samples[fields[1]] += int(fields[2])

errors = {k: v for k, v in counters.items() if (k.startswith("error") or k == "timeout") and v}
check(not errors, P + " no error counters", str(errors))
check(counters.get("users_count") == users and counters.get("finish_users_count") == users,
      P + " every user started and finished", "%s %s" % (counters.get("users_count"),
                                                      counters.get("finish_users_count")))
check(samples["session"] == users, P + " every session completed", str(samples["session"]))
for tr in (("tr_authenticate", "tr_join", "tr_online_chat", "tr_online_chat2", "tr_close") if muc else
           ("tr_authenticate", "tr_roster", "tr_online", "tr_offline", "tr_close")):
    check(samples[tr] == users, P + " transaction %s completed by every user" % tr[3:], str(samples[tr]))
if tls:
    check(samples["xmpp_starttls"] == users, P + " every user negotiated STARTTLS", str(samples["xmpp_starttls"]))
# tsung samples the delivery latency of stamped chats only when they arrive
# while a user thinks, one per read: some, not all, are measured.
check(samples["xmpp_msg_latency"] > 0, P + " tsung measured chat delivery (xmpp_msg_latency)")

# tsung.dump: "Send:TIME:PID:DATA" and "Recv:TIME:PID:DATA" lines (data may
# span lines). Joined per user, the stamped chats received must be exactly
# those sent, and nobody got an error. (tsung writes the dump with a delay
# and loses its last seconds when it stops, here the close: the scenario
# waits 5 s after the chats, and tr_close above counts the closes.)
sent, recv = collections.defaultdict(str), collections.defaultdict(str)
cur = None
with open(os.path.join(logdir, "tsung.dump"), errors="replace") as f:
    for line in f:
        m = re.match(r"(Send|Recv):[0-9.]+:(<[0-9.]+>):(.*)", line, re.S)
        if m:
            cur = (sent if m.group(1) == "Send" else recv), m.group(2)
            cur[0][cur[1]] += m.group(3)
        elif re.match(r"(NewClient|EndClient|load):", line):
            cur = None
        elif cur:
            cur[0][cur[1]] += line
stamp = re.compile(r"@@@[^@<]+@@@")
if muc:
    # Each user's room, from its join; every groupchat it sent must reach
    # every occupant of that room, the sender included.
    room_of, occupants = {}, collections.Counter()
    for pid, d in sent.items():
        m = re.search(r"<presence to='(room[0-9]+)@conference\.localhost/[^']+'><x xmlns='http://jabber.org/protocol/muc'/>", d)
        if m:
            room_of[pid] = m.group(1)
            occupants[m.group(1)] += 1
    check(len(room_of) == users, "M10 every user joined a room", "%d of %d" % (len(room_of), users))
    gc = re.compile(r"<message type='groupchat' to ='(room[0-9]+)@conference\.localhost'><body>@@@[^@<]+@@@")
    nsent, expect = 0, 0
    for pid, d in sent.items():
        for r in gc.findall(d):
            nsent += 1
            expect += occupants[r]
    check(nsent == users * (chats + 2), "M10 groupchats sent", "%d, expected %d" % (nsent, users * (chats + 2)))
    got = 0
    wrong = []
    for pid, d in recv.items():
        for m in re.finditer(r"<message [^>]*>(?:(?!</message>).)*@@@[^@<]+@@@", d, re.S):
            got += 1
            f = re.search(r"from='([^'/]+)", m.group(0))
            if not f or f.group(1) != "%s@conference.localhost" % room_of.get(pid):
                wrong.append(m.group(0)[:200])
    check(got == expect and expect > 0, "M10 every groupchat reflected to every occupant",
          "%d of %d (rooms %s)" % (got, expect, dict(occupants)))
    check(not wrong, "M10 groupchats come from the user's own room", wrong[0] if wrong else "")
else:
    nsent = sum(len(stamp.findall(d)) for d in sent.values())
    nrecv = sum(len(stamp.findall(d)) for d in recv.values())
    check(nsent == users * chats, P + " stamped chats sent", "%d, expected %d" % (nsent, users * chats))
    check(nrecv == nsent, P + " every stamped chat delivered", "%d of %d" % (nrecv, nsent))
bad = [d for d in recv.values() if "<stream:error" in d or re.search(r"type=['\"]error['\"]", d)]
check(not bad, P + " no error stanza or stream error received", bad[0][:300] if bad else "")
sys.exit(xtest.failures)
