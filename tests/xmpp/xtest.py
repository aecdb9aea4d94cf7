"""What the XMPP test scripts share.

check() prints 'ok NAME' (with '(WHY)' when given) or 'FAIL NAME: WHY' and
counts the failures; a script ends with sys.exit(xtest.failures), so its
exit status is their number.
"""
import base64
import re
import socket
import ssl
import time

T = 10
HDR = ("<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
       "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"

failures = 0


def check(cond, name, why=""):
    global failures
    if cond:
        print("ok", name + (" (" + why + ")" if why else ""), flush=True)
    else:
        failures += 1
        print("FAIL", name + (": " + why if why else ""), flush=True)
    return bool(cond)


class Conn:
    """A raw client stream on loopback: TLS, PLAIN, bind, ping ordering."""

    def __init__(self, port, ca):
        self.ca = ca
        self.s = socket.create_connection(("127.0.0.1", port), timeout=T)
        self.buf = b""
        self.closed = False

    def send(self, data):
        self.s.sendall(data.encode() if isinstance(data, str) else data)

    def read_until(self, pattern, timeout=T):
        """Reads until `pattern` (regex, bytes) matches the buffer; returns
        the match (or None on timeout or close)."""
        end = time.time() + timeout
        while True:
            m = re.search(pattern, self.buf, re.S)
            if m:
                return m
            left = end - time.time()
            if left <= 0 or self.closed:
                return None
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return None
            except (ConnectionResetError, ssl.SSLError, OSError):
                self.closed = True
                continue
            if not d:
                self.closed = True
            self.buf += d

    def take(self, pattern, timeout=T):
        """Like read_until, and drops the buffer up to the end of the match."""
        m = self.read_until(pattern, timeout)
        if m:
            self.buf = self.buf[m.end():]
        return m

    def wait_closed(self, timeout=T):
        self.read_until(rb"(?!x)x", timeout)  # never matches: reads until close or timeout
        return self.closed

    def starttls(self):
        self.send(HDR)
        assert self.take(rb"</stream:features>")
        self.send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        assert self.take(rb"<proceed[^>]*/>")
        self.s = ssl.create_default_context(cafile=self.ca).wrap_socket(self.s, server_hostname="localhost")
        self.buf = b""
        self.send(HDR)
        assert self.take(rb"</stream:features>")

    def auth(self, user, pw, extra=""):
        """PLAIN over TLS (with `extra` pipelined in the same write); True on success."""
        self.starttls()
        tok = base64.b64encode(b"\0" + user.encode() + b"\0" + pw.encode()).decode()
        self.send("<auth xmlns='%s' mechanism='PLAIN'>%s</auth>%s" % (SASL, tok, extra))
        m = self.take(rb"<success[^>]*/>|<success[^>]*>[^<]*</success>|<failure")
        if not m or not m.group(0).startswith(b"<success"):
            return False
        self.send(HDR)
        return bool(self.take(rb"</stream:features>"))

    def bind(self, resource=None):
        res = "<resource>%s</resource>" % resource if resource else ""
        self.send("<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>%s</bind></iq>" % res)
        m = self.take(rb"<jid>([^<]*)</jid>")
        return m.group(1).decode() if m else None

    def login(self, user, pw, resource, presence=True):
        if not self.auth(user, pw) or self.bind(resource) is None:
            return False
        if presence:
            self.send("<presence/>")
            return bool(self.take(rb"<presence[^>]*from='%s@localhost/%s'" % (user.encode(), resource.encode())))
        return True

    def ping(self, pid):
        """Sends a ping (no 'to'); returns everything that arrived before its result."""
        self.send("<iq type='get' id='%s'><ping xmlns='urn:xmpp:ping'/></iq>" % pid)
        m = self.read_until(rb"<iq[^>]*id='%s'[^>]*/>|<iq[^>]*id='%s'[^>]*>.*?</iq>" % (pid.encode(), pid.encode()))
        if not m:
            return None
        before = self.buf[:m.start()]
        self.buf = self.buf[m.end():]
        return before

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def iq_reply(c, iq_id):
    m = c.take(rb"<iq[^>]*id='%s'[^>]*(?:/>|>.*?</iq>)" % iq_id.encode())
    return m.group(0).decode(errors="replace") if m else ""
