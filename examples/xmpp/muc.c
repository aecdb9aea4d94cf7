/*
 * xmpp_muc: the minimal multi-user chat subset of XEP-0045 for one
 * conference domain (conference.localhost), in its own enclave. The router
 * forwards it every stanza addressed to that domain (M_STANZA: the
 * sender's full JID, already stamped, and the serialized stanza) and tells
 * it when an occupant's session ends or goes unavailable (M_GONE); it
 * answers with stanzas for full JIDs of the domain (M_DELIVER), which the
 * router hands to the sessions. It sees room traffic only: no credentials,
 * no rosters.
 *
 * Rooms are instant (created unlocked by the first join, destroyed when
 * the last occupant leaves), in memory, with no history. Joining (with or
 * without <x xmlns='http://jabber.org/protocol/muc'/>) sends the joiner the
 * other occupants' presence, its own with status 110 (and 201 for a new
 * room), then the subject; groupchat is reflected to every occupant, the
 * sender included; a taken nick gets `conflict`; leaving (or the session
 * ending) sends unavailable to everyone (110 to the leaver); a nick change
 * is unavailable with 303, then the new presence. Disco#info on the
 * service or a room answers the MUC feature; disco#items on the service
 * lists the rooms. Not here: history, moderation, configuration (an
 * owner form submit gets an empty result).
 *
 * Parameters: domain (conference.localhost). Channel: "muc" to the router.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <eactors/eactors.h>

#include "proto.h"
#include "xcrypto.h"
#include "xstream.h"

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER NS_MUC "#user"
#define NS_MUC_OWNER NS_MUC "#owner"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define ROOMS_MAX 4096u
#define OCCUPANTS_MAX 512u
#define NAME_MAX_ 1023u

struct occ {
    struct occ *next;
    char *nick, *jid; /* jid: the occupant's full JID */
    char *extra;      /* its presence's children (show, status), serialized */
    int owner;
};

struct room {
    struct room *next;
    struct occ *occ;
    unsigned nocc;
    char *subject; /* serialized <subject> text, escaped; NULL = empty */
    char name[];
};

struct muc {
    const char *domain;
    ea_conn_t *rt;
    struct outq out;
    struct room *rooms;
    unsigned nrooms;
    uint64_t joins, reflected;
    /* the stanza being handled */
    const char *from;
};

/* ------------------------------------------------------------ output */

/* Hands stanza `b` for local session `to` to the router, with the JID it
 * comes from (unescaped: the router checks it against the recipient's
 * blocklist, XEP-0191). */
static void send_to(struct muc *mu, const char *to, const char *from, xbuf_t *b)
{
    if (!b->failed) {
        struct xmsg m = {.h = {M_DELIVER, 0, 0, 0}};
        xmsg_adds(&m, to);
        xmsg_add(&m, b->p, b->len);
        xmsg_adds(&m, from != NULL ? from : mu->domain);
        (void)outq_send(&mu->out, &m);
    }
    xb_free(b);
}

static void attr(xbuf_t *b, const char *name, const char *val)
{
    if (val == NULL || val[0] == 0)
        return;
    xb_fmt(b, " %s='", name);
    xb_esc_attr(b, val, strlen(val));
    xb_str(b, "'");
}

/* room@domain[/nick], escaped for an attribute value */
static void room_jid(struct muc *mu, xbuf_t *b, const char *room, const char *nick)
{
    if (room != NULL && room[0]) {
        xb_esc_attr(b, room, strlen(room));
        xb_str(b, "@");
    }
    xb_esc_attr(b, mu->domain, strlen(mu->domain));
    if (nick != NULL) {
        xb_str(b, "/");
        xb_esc_attr(b, nick, strlen(nick));
    }
}

/* room@domain[/nick] as a plain string (for send_to), in `buf`. */
static const char *from_jid(struct muc *mu, const struct room *rm, const char *nick, char *buf,
                            size_t cap)
{
    snprintf(buf, cap, "%s%s%s%s%s", rm ? rm->name : "", rm ? "@" : "", mu->domain, nick ? "/" : "",
             nick ? nick : "");
    return buf;
}

static void from_attr(struct muc *mu, xbuf_t *b, const struct room *rm, const char *nick)
{
    xb_str(b, " from='");
    room_jid(mu, b, rm ? rm->name : NULL, nick);
    xb_str(b, "'");
}

static void error_reply(struct muc *mu, const xel_t *el, const char *etype, const char *cond)
{
    xbuf_t b = {0};
    xb_fmt(&b, "<%s type='error'", el->name);
    attr(&b, "id", xel_attr(el, "id"));
    attr(&b, "from", xel_attr(el, "to"));
    attr(&b, "to", mu->from);
    xb_str(&b, ">");
    if (strcmp(el->name, "presence") == 0)
        xb_str(&b, "<x xmlns='" NS_MUC "'/>");
    xb_fmt(&b, "<error type='%s'><%s xmlns='" NS_STANZAS "'/></error></%s>", etype, cond, el->name);
    send_to(mu, mu->from, xel_attr(el, "to"), &b);
}

static void iq_result(struct muc *mu, const xel_t *el, const char *payload)
{
    xbuf_t b = {0};
    xb_str(&b, "<iq type='result'");
    attr(&b, "id", xel_attr(el, "id"));
    attr(&b, "from", xel_attr(el, "to"));
    attr(&b, "to", mu->from);
    if (payload != NULL) {
        xb_str(&b, ">");
        xb_str(&b, payload);
        xb_str(&b, "</iq>");
    } else {
        xb_str(&b, "/>");
    }
    send_to(mu, mu->from, xel_attr(el, "to"), &b);
}

/* ------------------------------------------------------------ rooms */

static struct room *room_find(struct muc *mu, const char *name)
{
    for (struct room *r = mu->rooms; r; r = r->next)
        if (strcmp(r->name, name) == 0)
            return r;
    return NULL;
}

static struct occ *occ_by_nick(struct room *r, const char *nick)
{
    for (struct occ *o = r->occ; o; o = o->next)
        if (strcmp(o->nick, nick) == 0)
            return o;
    return NULL;
}

static struct occ *occ_by_jid(struct room *r, const char *jid)
{
    for (struct occ *o = r->occ; o; o = o->next)
        if (strcmp(o->jid, jid) == 0)
            return o;
    return NULL;
}

static void occ_free(struct occ *o)
{
    free(o->nick);
    free(o->jid);
    free(o->extra);
    free(o);
}

static void room_destroy(struct muc *mu, struct room *rm)
{
    for (struct room **p = &mu->rooms; *p; p = &(*p)->next)
        if (*p == rm) {
            *p = rm->next;
            break;
        }
    while (rm->occ) {
        struct occ *o = rm->occ;
        rm->occ = o->next;
        occ_free(o);
    }
    free(rm->subject);
    free(rm);
    mu->nrooms--;
}

/* The presence of occupant `o` for `to`; `status` codes (0-terminated),
 * `unavail` for type='unavailable', `newnick` in the item for a nick
 * change (303). */
static void occ_presence(struct muc *mu, const struct room *rm, const struct occ *o, const char *to,
                         int unavail, const int *status, const char *newnick)
{
    xbuf_t b = {0};
    xb_str(&b, "<presence");
    from_attr(mu, &b, rm, o->nick);
    attr(&b, "to", to);
    if (unavail)
        xb_str(&b, " type='unavailable'");
    xb_str(&b, ">");
    if (!unavail && o->extra)
        xb_str(&b, o->extra);
    xb_fmt(&b, "<x xmlns='" NS_MUC_USER "'><item affiliation='%s' role='%s'",
           o->owner ? "owner" : "none",
           unavail && !newnick ? "none"
           : o->owner          ? "moderator"
                               : "participant");
    attr(&b, "nick", newnick);
    xb_str(&b, "/>");
    for (; status && *status; status++)
        xb_fmt(&b, "<status code='%d'/>", *status);
    xb_str(&b, "</x></presence>");
    char fj[3 * 1024];
    send_to(mu, to, from_jid(mu, rm, o->nick, fj, sizeof fj), &b);
}

/* `o` leaves `rm`: unavailable to everyone, 110 to itself; an empty room
 * goes. */
static void leave(struct muc *mu, struct room *rm, struct occ *o)
{
    static const int self[] = {110, 0};
    for (struct occ *x = rm->occ; x; x = x->next)
        occ_presence(mu, rm, o, x->jid, 1, x == o ? self : NULL, NULL);
    for (struct occ **p = &rm->occ; *p; p = &(*p)->next)
        if (*p == o) {
            *p = o->next;
            break;
        }
    occ_free(o);
    if (--rm->nocc == 0)
        room_destroy(mu, rm);
}

/* A session ended (or went unavailable): it leaves every room. */
static void gone(struct muc *mu, const char *jid)
{
    struct room *next;
    for (struct room *rm = mu->rooms; rm; rm = next) {
        next = rm->next;
        struct occ *o = occ_by_jid(rm, jid);
        if (o != NULL)
            leave(mu, rm, o);
    }
}

/* Serialized children of a presence, except MUC payloads. */
static char *presence_extra(const xel_t *el)
{
    xbuf_t b = {0};
    for (const xel_t *k = el->kids; k; k = k->next)
        if (k->name && strcmp(k->ns, NS_MUC) != 0 && strcmp(k->ns, NS_MUC_USER) != 0)
            xel_write(&b, k, XS_NS_CLIENT, NULL);
    if (b.failed || b.len == 0) {
        xb_free(&b);
        return NULL;
    }
    xb_add(&b, "", 1);
    if (b.failed) {
        xb_free(&b);
        return NULL;
    }
    return b.p;
}

/* Nick change (XEP-0045 §7.6): unavailable with 303 and the new nick for
 * the old one, then the new presence; 110 to the occupant itself. */
static void change_nick(struct muc *mu, const xel_t *el, struct room *rm, struct occ *o,
                        const char *nick)
{
    static const int st_303_self[] = {303, 110, 0}, st_303[] = {303, 0}, st_self[] = {110, 0};
    if (occ_by_nick(rm, nick) != NULL) {
        error_reply(mu, el, "cancel", "conflict");
        return;
    }
    char *n = strdup(nick);
    if (n == NULL) {
        error_reply(mu, el, "wait", "resource-constraint");
        return;
    }
    for (struct occ *x = rm->occ; x; x = x->next)
        occ_presence(mu, rm, o, x->jid, 1, x == o ? st_303_self : st_303, nick);
    free(o->nick);
    o->nick = n;
    free(o->extra);
    o->extra = presence_extra(el);
    for (struct occ *x = rm->occ; x; x = x->next)
        occ_presence(mu, rm, o, x->jid, 0, x == o ? st_self : NULL, NULL);
}

static void join(struct muc *mu, const xel_t *el, const char *roomname, const char *nick)
{
    struct room *rm = room_find(mu, roomname);
    int created = 0;
    if (rm != NULL) {
        struct occ *o = occ_by_jid(rm, mu->from);
        if (o != NULL) {
            if (strcmp(o->nick, nick) != 0) {
                change_nick(mu, el, rm, o, nick);
                return;
            }
            /* A presence update: to everyone. */
            free(o->extra);
            o->extra = presence_extra(el);
            for (struct occ *x = rm->occ; x; x = x->next)
                occ_presence(mu, rm, o, x->jid, 0, NULL, NULL);
            return;
        }
        if (occ_by_nick(rm, nick) != NULL) {
            error_reply(mu, el, "cancel", "conflict");
            return;
        }
        if (rm->nocc >= OCCUPANTS_MAX) {
            error_reply(mu, el, "wait", "service-unavailable");
            return;
        }
    } else {
        if (mu->nrooms >= ROOMS_MAX) {
            error_reply(mu, el, "wait", "resource-constraint");
            return;
        }
        rm = calloc(1, sizeof *rm + strlen(roomname) + 1);
        if (rm == NULL) {
            error_reply(mu, el, "wait", "resource-constraint");
            return;
        }
        strcpy(rm->name, roomname);
        rm->next = mu->rooms;
        mu->rooms = rm;
        mu->nrooms++;
        created = 1;
    }
    struct occ *o = calloc(1, sizeof *o);
    if (o != NULL) {
        o->nick = strdup(nick);
        o->jid = strdup(mu->from);
        o->owner = created;
    }
    if (o == NULL || o->nick == NULL || o->jid == NULL) {
        if (o)
            occ_free(o);
        if (created)
            room_destroy(mu, rm);
        error_reply(mu, el, "wait", "resource-constraint");
        return;
    }
    o->extra = presence_extra(el);
    /* 1. the others' presence to the joiner, and the joiner's to them */
    for (struct occ *x = rm->occ; x; x = x->next) {
        occ_presence(mu, rm, x, o->jid, 0, NULL, NULL);
        occ_presence(mu, rm, o, x->jid, 0, NULL, NULL);
    }
    /* append: occupants in join order */
    struct occ **p = &rm->occ;
    while (*p)
        p = &(*p)->next;
    *p = o;
    rm->nocc++;
    mu->joins++;
    /* 2. its own presence, 110 (+201) */
    static const int st_new[] = {110, 201, 0}, st_self[] = {110, 0};
    occ_presence(mu, rm, o, o->jid, 0, created ? st_new : st_self, NULL);
    /* 3. no history kept; 4. always the subject */
    xbuf_t b = {0};
    xb_str(&b, "<message type='groupchat'");
    from_attr(mu, &b, rm, NULL);
    attr(&b, "to", o->jid);
    xb_fmt(&b, "><subject>%s</subject></message>", rm->subject ? rm->subject : "");
    char fj[3 * 1024];
    send_to(mu, o->jid, from_jid(mu, rm, NULL, fj, sizeof fj), &b);
}

static void on_presence(struct muc *mu, const xel_t *el, const char *roomname, const char *nick)
{
    const char *type = xel_attr(el, "type");
    if (roomname[0] == 0 || (type != NULL && strcmp(type, "unavailable") != 0))
        return; /* to the service, or error/subscribe/probe: no answer */
    if (type == NULL) {
        if (nick == NULL || nick[0] == 0)
            error_reply(mu, el, "modify", "jid-malformed");
        else
            join(mu, el, roomname, nick);
        return;
    }
    struct room *rm = room_find(mu, roomname);
    struct occ *o = rm ? occ_by_jid(rm, mu->from) : NULL;
    if (o != NULL)
        leave(mu, rm, o);
}

static void on_message(struct muc *mu, const xel_t *el, const char *roomname, const char *nick)
{
    const char *type = xel_attr(el, "type");
    if (type != NULL && strcmp(type, "error") == 0)
        return;
    struct room *rm = roomname[0] ? room_find(mu, roomname) : NULL;
    struct occ *o = rm ? occ_by_jid(rm, mu->from) : NULL;
    if (o == NULL) {
        error_reply(mu, el, "modify", "not-acceptable");
        return;
    }
    int groupchat = type != NULL && strcmp(type, "groupchat") == 0;
    struct occ *target = NULL;
    if (nick != NULL) { /* a private message to one occupant */
        target = groupchat ? NULL : occ_by_nick(rm, nick);
        if (target == NULL) {
            error_reply(mu, el, "cancel", groupchat ? "bad-request" : "item-not-found");
            return;
        }
    } else if (!groupchat) {
        error_reply(mu, el, "modify", "bad-request");
        return;
    }
    xel_t *subj = groupchat ? xel_child(el, XS_NS_CLIENT, "subject") : NULL;
    if (subj != NULL) {
        char text[1024];
        size_t n = xel_text(subj, text, sizeof text);
        xbuf_t s = {0};
        xb_esc(&s, text, n);
        xb_add(&s, "", 1);
        if (!s.failed) {
            free(rm->subject);
            rm->subject = s.p;
        } else {
            xb_free(&s);
        }
    }
    xbuf_t kids = {0};
    for (const xel_t *k = el->kids; k; k = k->next)
        if (k->name)
            xel_write(&kids, k, XS_NS_CLIENT, NULL);
    for (struct occ *x = rm->occ; x; x = x->next) {
        if (target != NULL && x != target)
            continue;
        xbuf_t b = {0};
        xb_str(&b, "<message");
        attr(&b, "type", type);
        attr(&b, "id", xel_attr(el, "id"));
        from_attr(mu, &b, rm, o->nick);
        attr(&b, "to", x->jid);
        xb_str(&b, ">");
        if (target != NULL)
            xb_str(&b, "<x xmlns='" NS_MUC_USER "'/>");
        if (!kids.failed)
            xb_add(&b, kids.p, kids.len);
        xb_str(&b, "</message>");
        char fj[3 * 1024];
        send_to(mu, x->jid, from_jid(mu, rm, o->nick, fj, sizeof fj), &b);
        mu->reflected++;
    }
    xb_free(&kids);
}

static void on_iq(struct muc *mu, const xel_t *el, const char *roomname, const char *nick)
{
    const char *type = xel_attr(el, "type");
    int get = type && strcmp(type, "get") == 0, set = type && strcmp(type, "set") == 0;
    if (!get && !set)
        return;
    xel_t *q = xel_first(el);
    if (q == NULL || xel_nchildren(el) != 1 || xel_attr(el, "id") == NULL) {
        error_reply(mu, el, "modify", "bad-request");
        return;
    }
    struct room *rm = roomname[0] ? room_find(mu, roomname) : NULL;
    if (nick != NULL || (roomname[0] && rm == NULL)) {
        error_reply(mu, el, "cancel", nick ? "service-unavailable" : "item-not-found");
        return;
    }
    int query = strcmp(q->name, "query") == 0;
    if (get && query && strcmp(q->ns, NS_DISCO_INFO) == 0 && xel_attr(q, "node") == NULL) {
        xbuf_t b = {0};
        xb_str(&b, "<query xmlns='" NS_DISCO_INFO "'><identity category='conference' type='text'");
        attr(&b, "name", rm ? rm->name : "Chatrooms");
        xb_str(&b, "/><feature var='" NS_DISCO_INFO "'/><feature var='" NS_DISCO_ITEMS "'/>"
                   "<feature var='" NS_MUC "'/>");
        if (rm)
            xb_str(&b, "<feature var='muc_temporary'/><feature var='muc_open'/>"
                       "<feature var='muc_unmoderated'/>");
        xb_str(&b, "</query>");
        xb_add(&b, "", 1);
        if (!b.failed)
            iq_result(mu, el, b.p);
        xb_free(&b);
    } else if (get && query && strcmp(q->ns, NS_DISCO_ITEMS) == 0 && xel_attr(q, "node") == NULL) {
        xbuf_t b = {0};
        xb_str(&b, "<query xmlns='" NS_DISCO_ITEMS "'>");
        for (struct room *r = rm ? NULL : mu->rooms; r; r = r->next) {
            xb_str(&b, "<item jid='");
            room_jid(mu, &b, r->name, NULL);
            xb_str(&b, "'/>");
        }
        xb_str(&b, "</query>");
        xb_add(&b, "", 1);
        if (!b.failed)
            iq_result(mu, el, b.p);
        xb_free(&b);
    } else if (get && strcmp(q->name, "ping") == 0 && strcmp(q->ns, NS_PING) == 0) {
        iq_result(mu, el, NULL);
    } else if (set && rm && query && strcmp(q->ns, NS_MUC_OWNER) == 0 &&
               occ_by_jid(rm, mu->from) != NULL && occ_by_jid(rm, mu->from)->owner) {
        iq_result(mu, el, NULL); /* instant room: the form is accepted as is */
    } else {
        error_reply(mu, el, "cancel", "service-unavailable");
    }
}

/* ------------------------------------------------------------ stanzas */

static void element(void *ctx, xs_t *xs, xel_t *el)
{
    (void)xs;
    struct muc *mu = ctx;
    const char *to = xel_attr(el, "to");
    if (to == NULL || strlen(to) > 3 * NAME_MAX_)
        return;
    /* room@domain/nick: the room folded to lower case, the nick opaque */
    char room[NAME_MAX_ + 1] = "";
    const char *slash = strchr(to, '/'), *at = strchr(to, '@');
    if (at != NULL && slash != NULL && at > slash)
        at = NULL;
    const char *dom = at ? at + 1 : to;
    size_t dl = slash ? (size_t)(slash - dom) : strlen(dom);
    if (at != NULL) {
        size_t rl = (size_t)(at - to);
        if (rl == 0 || rl > NAME_MAX_)
            return;
        for (size_t i = 0; i < rl; i++) {
            unsigned char c = (unsigned char)to[i];
            if (c <= 0x20 || c >= 0x7f || strchr("\"&'/:<>@", c))
                return; /* the router parsed it already: not reached */
            room[i] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        room[rl] = 0;
    }
    if (dl != strlen(mu->domain) || strncasecmp(dom, mu->domain, dl) != 0)
        return;
    const char *nick = slash ? slash + 1 : NULL;
    if (strcmp(el->name, "presence") == 0)
        on_presence(mu, el, room, nick);
    else if (strcmp(el->name, "message") == 0)
        on_message(mu, el, room, nick);
    else if (strcmp(el->name, "iq") == 0)
        on_iq(mu, el, room, nick);
}

static void header(void *ctx, xs_t *xs, const xs_header_t *h)
{
    (void)ctx, (void)xs, (void)h;
}

/* One stanza from the router, re-parsed here (it was serialized by c2s). */
static void stanza(struct muc *mu, const struct xmsg *m)
{
    static const char open[] = "<stream:stream xmlns='jabber:client' "
                               "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    char from[3 * NAME_MAX_ + 3];
    if (m->n < 2 || xmsg_str(m, 0, from, sizeof from) < 0)
        return;
    unsigned long salt = 0;
    if (xc_random(&salt, sizeof salt) < 0)
        return;
    xs_cbs_t cbs = {.header = header, .element = element};
    xs_t xs;
    if (xs_init(&xs, &cbs, mu, salt, XS_MEM_DEFAULT, XS_STANZA_MAX) != 0)
        return;
    mu->from = from;
    if (xs_feed(&xs, open, sizeof open - 1) == XS_OK)
        (void)xs_feed(&xs, m->f[1], m->fl[1]);
    mu->from = NULL;
    xs_free(&xs);
}

static int muc_ctor(ea_actor_t *self, void *state)
{
    struct muc *mu = state;
    mu->domain = ea_param(self, "domain") ? ea_param(self, "domain") : "conference.localhost";
    for (unsigned i = 0; i < ea_conn_count(self); i++)
        if (strcmp(ea_conn_name(ea_conn_at(self, i)), "muc") == 0)
            mu->rt = ea_conn_at(self, i);
    mu->out.c = mu->rt;
    return mu->rt != NULL ? EA_OK : EA_ERR_NOTFOUND;
}

static int muc_body(ea_actor_t *self, void *state)
{
    struct muc *mu = state;
    if (ea_stopping(self)) {
        while (mu->rooms)
            room_destroy(mu, mu->rooms);
        outq_clear(&mu->out);
        printf("%s: %llu joins, %llu groupchat messages delivered\n", ea_name(self),
               (unsigned long long)mu->joins, (unsigned long long)mu->reflected);
        fflush(stdout);
        return EA_DONE;
    }
    int busy = outq_flush(&mu->out);
    for (int n = 0; n < 256; n++) {
        ea_cargo_t cg;
        if (ea_cargo_recv(mu->rt, &cg) != EA_OK)
            break;
        struct xmsg m;
        if (xmsg_parse(&m, cg.data, cg.len) == 0) {
            char jid[3 * NAME_MAX_ + 3];
            if (m.h.op == M_STANZA)
                stanza(mu, &m);
            else if (m.h.op == M_GONE && xmsg_str(&m, 0, jid, sizeof jid) == 0)
                gone(mu, jid);
        }
        ea_cargo_release(&cg);
        if (n == 255)
            busy = 1;
    }
    return busy ? EA_BUSY : EA_IDLE;
}

EA_ACTOR(xmpp_muc, struct muc, muc_ctor, muc_body);
