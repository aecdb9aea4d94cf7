"""What the host sees of an XMPP session: alice sends bob chat messages whose
body holds a marker, for a few seconds, while the test scans the public
arena for it (xmpp.sh host_view). Usage: host_view.py PORT CA MODE MARKER SECONDS
  MODE tls    both log in over STARTTLS (the server's normal way)
  MODE plain  alice logs in without TLS (the plain_insecure switch): the
              control, whose plaintext crosses the host
Every message must reach bob (over TLS); prints 'ok ...' lines and exits with
the number of failures.
"""
import base64
import sys
import time

import xtest
from xtest import HDR, SASL, check


def login_plain(c, user, pw, resource):
    """PLAIN without TLS, then bind and presence."""
    c.send(HDR)
    if not c.take(rb"</stream:features>"):
        return False
    tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
    c.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>" % (SASL, tok))
    m = c.take(rb"<success[^>]*/>|<success[^>]*>[^<]*</success>|<failure")
    if not m or not m.group(0).startswith(b"<success"):
        return False
    c.send(HDR)
    if not c.take(rb"</stream:features>") or c.bind(resource) is None:
        return False
    c.send("<presence/>")
    return bool(c.take(rb"<presence[^>]*from='%s@localhost/%s'" % (user.encode(), resource.encode())))


def main():
    port, ca, mode, marker, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
    bob = xtest.Conn(port, ca)
    check(bob.login("bob", "bob-pw", "hv"), "bob logs in over TLS")
    alice = xtest.Conn(port, ca)
    if mode == "tls":
        ok = alice.login("alice", "alice-pw", "hv")
    else:
        ok = login_plain(alice, "alice", "alice-pw", "hv")
    if not check(ok, "alice logs in (%s)" % mode):
        return
    sent = got = 0
    end = time.time() + seconds
    while time.time() < end:
        for _ in range(20):
            alice.send("<message to='bob@localhost/hv' type='chat' id='m%d'><body>%s %d</body></message>"
                       % (sent, marker, sent))
            sent += 1
        # Keep up with the deliveries, so the run stays a conversation.
        while got < sent - 40:
            if not bob.take(rb"<message[^>]*>.*?</message>", 10):
                break
            got += 1
        time.sleep(0.005)
    while got < sent and bob.take(rb"<message[^>]*>.*?</message>", 10):
        got += 1
    check(got == sent, "bob got every message", "%d of %d" % (got, sent))
    alice.close()
    bob.close()


if __name__ == "__main__":
    main()
    sys.exit(xtest.failures)
