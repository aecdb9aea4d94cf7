#!/usr/bin/python3
"""XEP-0077 in-band registration against the XMPP example (spec S4).

Usage: register.py PORT CA_FILE PHASE
  PHASE new:   the feature is offered after STARTTLS; the form; a new account
               (erin) is made and logs in; the same name again gets conflict;
               a missing password gets not-acceptable.
  PHASE again: (after a restart) erin still logs in: the account was sealed
               and written.
Prints 'ok NAME' or 'FAIL NAME: why'; exits with the number of failures.
"""
import base64
import re
import socket
import ssl
import sys
import time

import xtest  # beside this script

PORT = int(sys.argv[1])
CA = sys.argv[2]
PHASE = sys.argv[3]
HDR = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
NS = "jabber:iq:register"


check = xtest.check


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data.encode())

    def read_until(self, pattern, timeout=5):
        end = time.time() + timeout
        while not re.search(pattern, self.buf, re.S):
            if time.time() > end:
                return False
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                d = self.s.recv(65536)
            except (socket.timeout, ssl.SSLError, OSError):
                return False
            if not d:
                return bool(re.search(pattern, self.buf, re.S))
            self.buf += d
        return True

    def tls(self):
        self.send(HDR)
        self.read_until(rb"</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.read_until(rb"<proceed")
        self.s = ssl.create_default_context(cafile=CA).wrap_socket(self.s, server_hostname="localhost")
        self.buf = b""
        self.send(HDR)
        return self.read_until(rb"</stream:features>")

    def iq(self, id_, body):
        self.buf = b""
        self.send("<iq type='set' id='%s'><query xmlns='%s'>%s</query></iq>" % (id_, NS, body))
        self.read_until(rb"id='%s'.*?(/>|</iq>)" % id_.encode())
        return self.buf

    def login(self, user, pw):
        self.buf = b""
        tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % tok)
        self.read_until(rb"<success|<failure")
        if b"<success" not in self.buf:
            return False
        self.buf = b""
        self.send(HDR)
        self.read_until(rb"</stream:features>")
        self.buf = b""
        self.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        return self.read_until(rb"<jid>%s@localhost/" % user.encode())


if PHASE == "new":
    c = Conn()
    c.send(HDR)
    c.read_until(rb"</stream:features>")
    check(b"iq-register" not in c.buf, "registration not offered before TLS")
    c.s.close()
    c = Conn()
    ok = c.tls()
    check(ok and b"<register xmlns='http://jabber.org/features/iq-register'/>" in c.buf,
          "registration offered after STARTTLS", repr(c.buf[-300:]))
    c.buf = b""
    c.send("<iq type='get' id='g'><query xmlns='%s'/></iq>" % NS)
    check(c.read_until(rb"<username/><password/></query></iq>"), "the form", repr(c.buf))
    r = c.iq("r1", "<username>erin</username><password>erin-pw</password>")
    check(b"type='result'" in r, "erin registered", repr(r))
    r = c.iq("r2", "<username>erin</username><password>x</password>")
    check(b"<conflict" in r, "the same name again: conflict", repr(r))
    r = c.iq("r3", "<username>frank</username>")
    check(b"<not-acceptable" in r, "no password: not-acceptable", repr(r))
    r = c.iq("r4", "<username>Bad User</username><password>x</password>")
    check(b"<not-acceptable" in r, "bad name: not-acceptable", repr(r))
    check(c.login("erin", "erin-pw"), "erin logs in on the same connection")
    c.s.close()
c = Conn()
check(c.tls() and c.login("erin", "erin-pw"), "erin logs in (%s)" % PHASE)
c.s.close()
c = Conn()
check(c.tls() and not c.login("erin", "wrong"), "erin with a wrong password refused (%s)" % PHASE)
c.s.close()
sys.exit(xtest.failures)
