/*
 * A small libstrophe (Debian libstrophe 0.12.2) client against the XMPP
 * example: spec §5 "plus a small libstrophe C client".
 *
 *   strophe_client PORT CA_FILE USER PASSWORD BADPASSWORD
 *
 * 1. USER@localhost/strophe logs in with STARTTLS required
 *    (XMPP_CONN_FLAG_MANDATORY_TLS) and the CA given explicitly (libstrophe
 *    verifies the certificate and the name), sends initial presence, a
 *    roster get, a ping to the domain and a chat message to its own bare
 *    JID, and expects: a roster result with a jabber:iq:roster <query/>, a
 *    ping result from the domain, and the message back with its body and
 *    the full JID as from. Then it closes the stream.
 * 2. The same user with BADPASSWORD never gets a session.
 * Prints "ok NAME" or "FAIL NAME: why"; exits with the number of failures.
 * Every run has a 10 s limit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <strophe.h>

static int failures;

static void check(int ok, const char *name, const char *why)
{
    if (ok) {
        printf("ok %s\n", name);
    } else {
        printf("FAIL %s: %s\n", name, why);
        failures++;
    }
    fflush(stdout);
}

struct run {
    xmpp_ctx_t *ctx;
    const char *bare, *full;
    int connected, disconnected;
    int roster_ok, ping_ok, msg_ok, closing;
};

static void maybe_close(xmpp_conn_t *conn, struct run *r)
{
    if (r->roster_ok && r->ping_ok && r->msg_ok && !r->closing) {
        r->closing = 1;
        xmpp_disconnect(conn);
    }
}

static int on_roster(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    struct run *r = ud;
    const char *type = xmpp_stanza_get_type(st);
    xmpp_stanza_t *q = xmpp_stanza_get_child_by_name_and_ns(st, "query", "jabber:iq:roster");
    r->roster_ok = type != NULL && strcmp(type, "result") == 0 && q != NULL;
    maybe_close(conn, r);
    return 0;
}

static int on_ping(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    struct run *r = ud;
    const char *type = xmpp_stanza_get_type(st), *from = xmpp_stanza_get_from(st);
    r->ping_ok = type != NULL && strcmp(type, "result") == 0 && from != NULL &&
                 strcmp(from, "localhost") == 0;
    maybe_close(conn, r);
    return 0;
}

static int on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
    struct run *r = ud;
    char *body = xmpp_message_get_body(st);
    const char *from = xmpp_stanza_get_from(st);
    if (body != NULL && strcmp(body, "strophe <hi> & bye") == 0 && from != NULL &&
        strcmp(from, r->full) == 0)
        r->msg_ok = 1;
    if (body != NULL)
        xmpp_free(r->ctx, body);
    maybe_close(conn, r);
    return 1;
}

static void on_conn(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                    xmpp_stream_error_t *stream_error, void *ud)
{
    struct run *r = ud;
    (void)error;
    (void)stream_error;
    if (status != XMPP_CONN_CONNECT) {
        r->disconnected = 1;
        xmpp_stop(r->ctx);
        return;
    }
    r->connected = 1;
    xmpp_handler_add(conn, on_message, NULL, "message", NULL, r);
    xmpp_id_handler_add(conn, on_roster, "r1", r);
    xmpp_id_handler_add(conn, on_ping, "p1", r);

    xmpp_stanza_t *pres = xmpp_presence_new(r->ctx);
    xmpp_send(conn, pres);
    xmpp_stanza_release(pres);

    xmpp_stanza_t *iq = xmpp_iq_new(r->ctx, "get", "r1");
    xmpp_stanza_t *q = xmpp_stanza_new(r->ctx);
    xmpp_stanza_set_name(q, "query");
    xmpp_stanza_set_ns(q, "jabber:iq:roster");
    xmpp_stanza_add_child(iq, q);
    xmpp_stanza_release(q);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);

    iq = xmpp_iq_new(r->ctx, "get", "p1");
    xmpp_stanza_set_to(iq, "localhost");
    xmpp_stanza_t *p = xmpp_stanza_new(r->ctx);
    xmpp_stanza_set_name(p, "ping");
    xmpp_stanza_set_ns(p, "urn:xmpp:ping");
    xmpp_stanza_add_child(iq, p);
    xmpp_stanza_release(p);
    xmpp_send(conn, iq);
    xmpp_stanza_release(iq);

    xmpp_stanza_t *m = xmpp_message_new(r->ctx, "chat", r->bare, "m1");
    xmpp_message_set_body(m, "strophe <hi> & bye");
    xmpp_send(conn, m);
    xmpp_stanza_release(m);
}

/* One session; returns the run's state. */
static struct run session(const char *port, const char *ca, const char *user, const char *pw)
{
    struct run r;
    memset(&r, 0, sizeof r);
    char bare[300], full[320];
    snprintf(bare, sizeof bare, "%s@localhost", user);
    snprintf(full, sizeof full, "%s/strophe", bare);
    r.bare = bare;
    r.full = full;
    r.ctx = xmpp_ctx_new(NULL, NULL);
    xmpp_conn_t *conn = xmpp_conn_new(r.ctx);
    xmpp_conn_set_flags(conn, XMPP_CONN_FLAG_MANDATORY_TLS);
    xmpp_conn_set_cafile(conn, ca);
    xmpp_conn_set_jid(conn, full);
    xmpp_conn_set_pass(conn, pw);
    if (xmpp_connect_client(conn, "127.0.0.1", (unsigned short)atoi(port), on_conn, &r) !=
        XMPP_EOK) {
        r.disconnected = 1;
    } else {
        time_t end = time(NULL) + 10;
        while (!r.disconnected && time(NULL) < end)
            xmpp_run_once(r.ctx, 100);
    }
    xmpp_conn_release(conn);
    xmpp_ctx_free(r.ctx);
    r.bare = r.full = NULL;
    return r;
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: strophe_client PORT CA_FILE USER PASSWORD BADPASSWORD\n");
        return 2;
    }
    xmpp_initialize();
    struct run r = session(argv[1], argv[2], argv[3], argv[4]);
    check(r.connected, "libstrophe login (STARTTLS required, SCRAM)", "no session");
    check(r.roster_ok, "libstrophe roster result with <query/>", "missing");
    check(r.ping_ok, "libstrophe ping result from the domain", "missing");
    check(r.msg_ok, "libstrophe message to own bare JID back, from the full JID", "missing");
    check(r.disconnected && r.closing, "libstrophe closed cleanly", "not closed by the client");
    struct run bad = session(argv[1], argv[2], argv[3], argv[5]);
    check(!bad.connected && bad.disconnected, "libstrophe bad password refused", "session or hang");
    xmpp_shutdown();
    return failures;
}
