/*
 * Enclave domains: EINIT, trust policy, local attestation between enclaves
 * and the keys of AEAD channels.
 *
 * Design notes. The image is copied into a sealed memfd; the platform
 * service measures those sealed bytes and checks the signature file (EINIT)
 * before a single instruction of the image runs; only then is the memfd
 * loaded. After confinement, every pair of enclaves that shares an AEAD
 * channel runs SGX's three-message DH exchange through an attestation slot
 * in the arena (the lower enclave index is the responder). Each side checks
 * the peer identity against the trust policy compiled into its own image,
 * derives one key per channel and direction from the agreed key, and only
 * then opens its workers' gate. All messages of the exchange are read from
 * the arena and therefore hostile; the DH functions verify them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rt.h"
#include "trust/pservice.h"

#include <eactors/ea_tls.h>

#define ATT_POLL_NS (50u * 1000000u)

static int read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
    uint8_t *all;
    size_t n;
    int rc = eai_file_read_all(path, cap, &all, &n);
    if (rc == EA_ERR_TOOBIG) {
        *len = cap + 1; /* the caller reports the wrong size */
        return EA_OK;
    }
    if (rc != EA_OK)
        return EA_ERR_NOTFOUND;
    memcpy(buf, all, n);
    free(all);
    *len = n;
    return EA_OK;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

/* Stage 1 of an enclave's confinement, before any byte of its image is
 * mapped: only the descriptors the enclave needs stay open, the kernel denies
 * every file but memfds and every TCP bind and connect (Landlock), and the
 * loading allow-list lets only a descriptor opened from now on (the image's
 * memfd, reopened by the loader) be mapped executable. */
static int confine_before_image(struct eai_domain *dom, eai_pclient_t *pc, char *err, size_t errlen)
{
    /* The platform socket, the image, and the files of this enclave's
     * persistent stores (the launcher opened them; the others were closed
     * after the fork): all below max_fd, so never mappable executable. */
    struct eai_rt *rt = dom->rt;
    int nstores = rt->store_fds != NULL ? rt->dep->nstores : 0;
    int *keep = malloc(sizeof(int) * (size_t)(2 + nstores));
    if (keep == NULL) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }
    keep[0] = pc->fd;
    keep[1] = dom->image_fd;
    for (int i = 0; i < nstores; i++)
        keep[2 + i] = rt->store_fds[i];
    int max_fd;
    if (eai_fds_compact(keep, 2 + nstores, &max_fd) != EA_OK) {
        free(keep);
        snprintf(err, errlen, "cannot close inherited descriptors");
        return EA_ERR_SYS;
    }
    pc->fd = keep[0];
    dom->rt->platform_fds[dom->enclave] = keep[0];
    dom->image_fd = keep[1];
    for (int i = 0; i < nstores; i++)
        rt->store_fds[i] = keep[2 + i];
    free(keep);
    dom->rt->arena_fd = -1; /* closed: the mapping stays */
    int rc = eai_landlock_confine(NULL, 0, true, err, errlen);
    if (rc == EA_OK)
        rc = eai_confine_for_load(pc->fd, max_fd, err, errlen);
    return rc;
}

int eai_domain_load_enclave_image(struct eai_domain *dom, const char *image, bool confine,
                                  char *err, size_t errlen)
{
    struct eai_rt *rt = dom->rt;
    int fd = rt->platform_fds != NULL ? rt->platform_fds[dom->enclave] : -1;
    if (fd < 0) {
        snprintf(err, errlen, "no platform service for this enclave");
        return EA_ERR_PERM;
    }
    /* libcrypto and libssl must do their one-time work (algorithm fetches,
     * time zone) before the allow-list goes on. */
    if (eai_crypto_init() != EA_OK || ea_tls_init() != EA_OK) {
        snprintf(err, errlen, "cannot initialise the crypto library");
        return EA_ERR_CRYPTO;
    }
    eai_pclient_t *pc = calloc(1, sizeof *pc);
    if (pc == NULL) {
        snprintf(err, errlen, "out of memory");
        return EA_ERR_NOMEM;
    }
    eai_pclient_init(pc, fd);
    dom->pclient = pc;

    size_t size;
    char why[256];
    int rc = eai_memfd_from_file(image, &dom->image_fd, &size, why, sizeof why);
    if (rc != EA_OK) {
        snprintf(err, errlen, "cannot load image '%s': %s", image, why);
        return rc;
    }
    char sigpath[4096];
    snprintf(sigpath, sizeof sigpath, "%s.sig", image);
    if (rt->sig_path != NULL)
        snprintf(sigpath, sizeof sigpath, "%s", rt->sig_path);
    const char *name = rt->image_name != NULL ? rt->image_name : base_name(image);
    uint8_t sig[EAI_SIGSTRUCT_SIZE + 1];
    size_t siglen = 0;
    if (read_file(sigpath, sig, EAI_SIGSTRUCT_SIZE, &siglen) != EA_OK) {
        snprintf(err, errlen, "image '%s' refused: signature file '%s.sig' is missing", name, name);
        return EA_ERR_AUTH;
    }
    if (confine) {
        rc = confine_before_image(dom, pc, why, sizeof why);
        if (rc != EA_OK) {
            snprintf(err, errlen, "cannot confine the enclave: %s", why);
            return rc;
        }
    }
    /* EINIT on the sealed bytes: nothing of the image has run yet. The
     * platform sees whether this process is confined; if not (the `none`
     * backend), the enclave runs with the DEBUG attribute. */
    rc = eai_pclient_einit(pc, dom->image_fd, name, sig,
                           siglen > EAI_SIGSTRUCT_SIZE ? EAI_SIGSTRUCT_SIZE + 1 : siglen, why,
                           sizeof why);
    if (rc != EA_OK) {
        snprintf(err, errlen, "image '%s' refused: %s", name, why);
        return rc;
    }
    dom->tplat = &pc->ops;
    dom->image = eai_dl_open_fd(dom->image_fd, why, sizeof why);
    if (dom->image == NULL) {
        snprintf(err, errlen, "cannot load image '%s': %s", image, why);
        return EA_ERR_SYS;
    }
    const ea_trust_policy_t *pol = eai_dl_sym(dom->image, "ea_trust_policy");
    if (pol != NULL && pol->abi != EA_TRUST_ABI) {
        snprintf(err, errlen, "image '%s': trust policy has unknown version %u", base_name(image),
                 pol->abi);
        return EA_ERR_POLICY;
    }
    dom->policy = pol;
    const ea_channel_policy_t *cp = eai_dl_sym(dom->image, "ea_channel_policy");
    if (cp != NULL && cp->abi != EA_TRUST_ABI) {
        snprintf(err, errlen, "image '%s': channel policy has unknown version %u", base_name(image),
                 cp->abi);
        return EA_ERR_POLICY;
    }
    dom->chan_policy = cp;
    return EA_OK;
}

static bool listed(const char *const *names, const char *name)
{
    for (size_t i = 0; names != NULL && names[i] != NULL && i < 4096; i++)
        if (strcmp(names[i], name) == 0)
            return true;
    return false;
}

int eai_domain_check_channels(struct eai_domain *dom, char *err, size_t errlen)
{
    struct eai_rt *rt = dom->rt;
    const eai_deploy_t *dep = rt->dep;
    const ea_channel_policy_t *cp = dom->chan_policy;
    int me = 1 + dom->enclave;
    for (int c = 0; c < dep->nchannels; c++) {
        const eai_dep_channel_t *ch = &dep->channels[c];
        int da = eai_domain_of_actor(dep, ch->a), db = eai_domain_of_actor(dep, ch->b);
        if (da != me && db != me)
            continue;
        int peer = da == me ? db : da;
        const char *why = NULL;
        bool attested = cp != NULL && listed(cp->attested, ch->name);
        if (peer == me)
            why = attested ? "its image requires an attested enclave at the other end, and both "
                             "ends are in this enclave"
                           : NULL;
        else if (peer == 0 && attested)
            why = "its image requires an attested enclave at the other end, not the host";
        else if (peer > 0 && !rt->lay.chan_aead[c] &&
                 (attested || cp == NULL || !listed(cp->plain_ok, ch->name)))
            why = "its image requires AEAD with an attested enclave (protect=\"plain\" asked)";
        if (why != NULL) {
            snprintf(err, errlen, "%s:%d: enclave '%s' refuses channel '%s': %s", dep->path,
                     ch->line, dom->name, ch->name, why);
            return EA_ERR_POLICY;
        }
    }
    return EA_OK;
}

int ea_conn_peer_identity(const struct ea_conn *c, ea_dh_identity_t *peer)
{
    if (c == NULL || peer == NULL)
        return EA_ERR_INVAL;
    if (!c->aead || c->peer_id == NULL)
        return EA_ERR_PERM;
    *peer = *c->peer_id;
    return EA_OK;
}

int eai_conn_setup_aead(struct eai_rt *rt, struct ea_conn *c, int chan, int end)
{
    c->aead = true;
    c->chan = (uint32_t)chan;
    c->end = end;
    c->dir_tx = (uint8_t)end; /* end a sends in direction 0 */
    c->cshm = &rt->cshm[chan];
    c->slot_size = (c->max + 63u) & ~63u;
    if (c->slot_size == 0)
        c->slot_size = 64;
    size_t bytes = (size_t)c->pool.count * c->slot_size;
    c->plain = eai_mem_map(bytes);
    return c->plain ? EA_OK : EA_ERR_NOMEM;
}

void eai_conn_free_aead(struct ea_conn *c)
{
    if (!c->aead)
        return;
    eai_aead_fini(&c->tx);
    eai_aead_fini(&c->rx);
    if (c->plain != NULL) {
        size_t bytes = (size_t)c->pool.count * c->slot_size;
        eai_wipe(c->plain, bytes);
        eai_mem_unmap(c->plain, bytes);
    }
    c->plain = NULL;
}

static const char *encl_name(struct eai_rt *rt, int e)
{
    return rt->dep->enclaves[e].name;
}

/* Waits until the slot reaches `want` (or fails, or the run stops). */
static int att_wait(struct eai_rt *rt, struct eai_att_shm *a, uint32_t want)
{
    for (;;) {
        uint32_t s = atomic_load_explicit(&a->step, memory_order_acquire);
        if (s == want)
            return EA_OK;
        if (s == EAI_ATT_FAILED || atomic_load_explicit(&rt->hdr->stop, memory_order_acquire) ||
            atomic_load_explicit(&rt->hdr->shutdown, memory_order_acquire))
            return EA_ERR_STOPPED;
        eai_futex_wait(&a->step, s, ATT_POLL_NS);
    }
}

static void att_post(struct eai_att_shm *a, uint32_t step)
{
    atomic_store_explicit(&a->step, step, memory_order_release);
    eai_futex_wake(&a->step, 8);
}

static void describe(const ea_dh_identity_t *id, const char *peer, char *out, size_t len)
{
    char s[17], m[17];
    eai_hex(id->mr_signer, 8, s);
    eai_hex(id->mr_enclave, 8, m);
    snprintf(out, len, "enclave '%s': mrsigner %s.. mrenclave %s.. prodid %u svn %u", peer, s, m,
             id->isv_prod_id, id->isv_svn);
}

/* Channel keys: HKDF-SHA256(AEK, info = label || channel index || direction). */
static int channel_keys(struct eai_rt *rt, struct eai_domain *dom, int peer_e,
                        const uint8_t aek[16], const ea_dh_identity_t *id, const char *accepted)
{
    const eai_deploy_t *dep = rt->dep;
    int me = dom->enclave;
    for (int c = 0; c < dep->nchannels; c++) {
        if (!rt->lay.chan_aead[c])
            continue;
        const eai_dep_channel_t *ch = &dep->channels[c];
        int ea = eai_domain_of_actor(dep, ch->a) - 1, eb = eai_domain_of_actor(dep, ch->b) - 1;
        if (!((ea == me && eb == peer_e) || (eb == me && ea == peer_e)))
            continue;
        int end = ea == me ? 0 : 1;
        struct ea_actor *a = rt->actors[end == 0 ? ch->a : ch->b];
        struct ea_conn *conn = NULL;
        for (uint32_t i = 0; a != NULL && i < a->nconns; i++)
            if (a->conns[i]->aead && a->conns[i]->chan == (uint32_t)c)
                conn = a->conns[i];
        if (conn == NULL)
            return EA_ERR_INVAL;
        uint8_t key[2][16];
        for (int dir = 0; dir < 2; dir++) {
            uint8_t info[32] = "eactors-channel-v1";
            size_t n = strlen((const char *)info);
            for (int k = 0; k < 4; k++)
                info[n + (size_t)k] = (uint8_t)((uint32_t)c >> (8 * k));
            info[n + 4] = (uint8_t)dir;
            int rc = eai_hkdf_sha256(NULL, 0, aek, 16, info, n + 5, key[dir], 16);
            if (rc != EA_OK)
                return rc;
        }
        int rc = eai_aead_init(&conn->tx, key[end], 16);
        if (rc == EA_OK)
            rc = eai_aead_init(&conn->rx, key[end ^ 1], 16);
        eai_wipe(key, sizeof key);
        if (rc != EA_OK)
            return rc;
        snprintf(conn->cshm->accepted[end], sizeof conn->cshm->accepted[end], "%s", accepted);
        conn->peer_id = id;
    }
    return EA_OK;
}

static int attest_pair(struct eai_rt *rt, struct eai_domain *dom, int p, char *err, size_t errlen)
{
    int lo = rt->lay.pair_lo[p], hi = rt->lay.pair_hi[p];
    int me = dom->enclave, peer = me == lo ? hi : lo;
    struct eai_att_shm *a = &rt->att[p];
    ea_dh_session_t s;
    ea_dh_identity_t id;
    uint8_t aek[16];
    int rc;
    eai_trust_bind(dom->tplat);
    if (me == lo) { /* responder */
        ea_dh_msg1_t m1;
        ea_dh_msg3_t m3;
        ea_dh_msg2_t m2;
        if ((rc = ea_dh_init_session(EA_DH_ROLE_RESPONDER, &s)) == EA_OK &&
            (rc = ea_dh_responder_gen_msg1(&m1, &s)) == EA_OK) {
            memcpy(&a->m1, &m1, sizeof m1);
            att_post(a, EAI_ATT_MSG1);
            if ((rc = att_wait(rt, a, EAI_ATT_MSG2)) == EA_OK) {
                memcpy(&m2, &a->m2, sizeof m2); /* one copy of hostile input */
                rc = ea_dh_responder_proc_msg2(&m2, &m3, &s, aek, &id);
                if (rc == EA_OK)
                    memcpy(&a->m3, &m3, sizeof m3);
            }
        }
    } else { /* initiator */
        ea_dh_msg1_t m1;
        ea_dh_msg2_t m2;
        ea_dh_msg3_t m3;
        if ((rc = ea_dh_init_session(EA_DH_ROLE_INITIATOR, &s)) == EA_OK &&
            (rc = att_wait(rt, a, EAI_ATT_MSG1)) == EA_OK) {
            memcpy(&m1, &a->m1, sizeof m1);
            if ((rc = ea_dh_initiator_proc_msg1(&m1, &m2, &s)) == EA_OK) {
                memcpy(&a->m2, &m2, sizeof m2);
                att_post(a, EAI_ATT_MSG2);
                if ((rc = att_wait(rt, a, EAI_ATT_MSG3)) == EA_OK) {
                    memcpy(&m3, &a->m3, sizeof m3);
                    rc = ea_dh_initiator_proc_msg3(&m3, &s, aek, &id);
                }
            }
        }
    }
    eai_wipe(&s, sizeof s);
    if (rc != EA_OK) {
        if (rc != EA_ERR_STOPPED)
            att_post(a, EAI_ATT_FAILED);
        snprintf(err, errlen, "local attestation with enclave '%s' failed: %s", encl_name(rt, peer),
                 rc == EA_ERR_STOPPED ? "the run stopped" : ea_strerror(rc));
        return rc;
    }
    /* The peer must meet the policy compiled into this enclave's image. */
    eai_identity_t self;
    char why[200];
    rc = dom->tplat->identity(dom->tplat->ctx, &self);
    if (rc == EA_OK)
        rc = eai_policy_check(dom->policy, &self, &id, why, sizeof why);
    else
        snprintf(why, sizeof why, "%s", ea_strerror(rc));
    if (rc != EA_OK) {
        att_post(a, EAI_ATT_FAILED);
        snprintf(err, errlen, "enclave '%s' rejected enclave '%s': %s", dom->name,
                 encl_name(rt, peer), why);
        eai_wipe(aek, sizeof aek);
        return EA_ERR_POLICY;
    }
    if (me == lo)
        att_post(a, EAI_ATT_MSG3);
    char accepted[112];
    describe(&id, encl_name(rt, peer), accepted, sizeof accepted);
    dom->peer_ids[peer] = id;
    rc = channel_keys(rt, dom, peer, aek, &dom->peer_ids[peer], accepted);
    eai_wipe(aek, sizeof aek);
    if (rc != EA_OK)
        snprintf(err, errlen, "channel keys with enclave '%s': %s", encl_name(rt, peer),
                 ea_strerror(rc));
    return rc;
}

int eai_domain_attest(struct eai_domain *dom, char *err, size_t errlen)
{
    struct eai_rt *rt = dom->rt;
    if (dom->enclave == EAI_HOST)
        return EA_OK;
    if (dom->peer_ids == NULL && rt->lay.npairs > 0) {
        dom->peer_ids = calloc((size_t)rt->dep->nenclaves, sizeof *dom->peer_ids);
        if (dom->peer_ids == NULL) {
            snprintf(err, errlen, "out of memory");
            return EA_ERR_NOMEM;
        }
    }
    for (int p = 0; p < rt->lay.npairs; p++) {
        if (rt->lay.pair_lo[p] != dom->enclave && rt->lay.pair_hi[p] != dom->enclave)
            continue;
        int rc = attest_pair(rt, dom, p, err, errlen);
        if (rc != EA_OK)
            return rc;
    }
    eai_trust_bind(NULL);
    return EA_OK;
}

void eai_domain_close_platform(struct eai_domain *dom)
{
    eai_pclient_t *pc = dom->pclient;
    if (pc != NULL && pc->fd >= 0) {
        eai_close(pc->fd);
        pc->fd = -1;
    }
}

void eai_domain_free_secure(struct eai_domain *dom)
{
    free(dom->peer_ids);
    dom->peer_ids = NULL;
    if (dom->pclient != NULL) {
        eai_pclient_fini(dom->pclient);
        free(dom->pclient);
        dom->pclient = NULL;
    }
}
