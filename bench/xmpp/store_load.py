#!/usr/bin/python3
"""Offline-message load for bench/xmpp_store.sh: one client (user s,
STARTTLS, PLAIN) sends COUNT chat messages with 64-byte bodies to the
offline users r1..rUSERS, round robin, in windows of WINDOW stanzas per
write, then a ping to the server, whose answer comes after the router has
taken every message before it. Prints key=value lines: messages, errors
(error replies received: a message not kept), seconds (first write to the
ping's answer).

Usage: store_load.py PORT CA USERS COUNT WINDOW
"""
import base64
import re
import socket
import ssl
import sys
import time

PORT, CA = int(sys.argv[1]), sys.argv[2]
USERS, COUNT, WINDOW = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
HDR = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
BODY = "x" * 64


class Conn:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", PORT), timeout=30)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data.encode())

    def until(self, pattern):
        while not re.search(pattern, self.buf, re.S):
            d = self.s.recv(1 << 16)
            if not d:
                raise SystemExit("bench: connection closed by the server")
            self.buf += d

    def start(self):
        self.send(HDR)
        self.until(rb"</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        self.until(rb"<proceed")
        self.s = ssl.create_default_context(cafile=CA).wrap_socket(self.s, server_hostname="localhost")
        self.buf = b""
        self.send(HDR)
        self.until(rb"</stream:features>")
        tok = base64.b64encode(b"\0s\0s-pw").decode()
        self.buf = b""
        self.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>" % tok)
        self.until(rb"<success|<failure")
        if b"<success" not in self.buf:
            raise SystemExit("bench: login of user s refused")
        self.buf = b""
        self.send(HDR)
        self.until(rb"</stream:features>")
        self.buf = b""
        self.send("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        self.until(rb"</iq>")
        self.buf = b""


c = Conn()
c.start()
t0 = time.time()
for i in range(0, COUNT, WINDOW):
    c.send("".join("<message to='r%d@localhost' type='chat'><body>%s</body></message>"
                   % (k % USERS + 1, BODY) for k in range(i, min(COUNT, i + WINDOW))))
c.send("<iq type='get' id='done' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>")
c.until(rb"id=['\"]done['\"]")
t1 = time.time()
print("messages=%d" % COUNT)
print("errors=%d" % len(re.findall(rb"type=['\"]error['\"]", c.buf)))
print("seconds=%.3f" % (t1 - t0))
