#!/usr/bin/python3
"""Checks a tsung run of tsung_sasl.xml.in (spec L6) from tsung's own files.

Usage: tsung_stats.py LOGDIR USERS CHATS TLS
  LOGDIR  tsung's log directory (tsung.log: the statistics; tsung.dump:
          the traffic each simulated user sent and received)
  USERS   users in the run; CHATS stamped chats each user sends
  TLS     1 if the scenario used STARTTLS
Each check prints 'ok NAME' or 'FAIL NAME: why'; the exit status is the
number of failures.
"""
import collections
import os
import re
import sys

logdir, users, chats, tls = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
failures = 0


def check(cond, name, why=""):
    global failures
    if cond:
        print("ok", name, flush=True)
    else:
        failures += 1
        print("FAIL", name + (": " + why if why else ""), flush=True)


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
check(not errors, "L6 no error counters", str(errors))
check(counters.get("users_count") == users and counters.get("finish_users_count") == users,
      "L6 every user started and finished", "%s %s" % (counters.get("users_count"),
                                                      counters.get("finish_users_count")))
check(samples["session"] == users, "L6 every session completed", str(samples["session"]))
for tr in ("tr_authenticate", "tr_roster", "tr_online", "tr_offline", "tr_close"):
    check(samples[tr] == users, "L6 transaction %s completed by every user" % tr[3:], str(samples[tr]))
if tls:
    check(samples["xmpp_starttls"] == users, "L6 every user negotiated STARTTLS", str(samples["xmpp_starttls"]))
# tsung samples the delivery latency of stamped chats only when they arrive
# while a user thinks, one per read: some, not all, are measured.
check(samples["xmpp_msg_latency"] > 0, "L6 tsung measured chat delivery (xmpp_msg_latency)")

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
nsent = sum(len(stamp.findall(d)) for d in sent.values())
nrecv = sum(len(stamp.findall(d)) for d in recv.values())
check(nsent == users * chats, "L6 stamped chats sent", "%d, expected %d" % (nsent, users * chats))
check(nrecv == nsent, "L6 every stamped chat delivered", "%d of %d" % (nrecv, nsent))
bad = [d for d in recv.values() if "<stream:error" in d or re.search(r"type=['\"]error['\"]", d)]
check(not bad, "L6 no error stanza or stream error received", bad[0][:300] if bad else "")
sys.exit(failures)
