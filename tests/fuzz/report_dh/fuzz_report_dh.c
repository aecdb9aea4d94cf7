/*
 * Fuzz target: reports and local attestation (src/trust/report.c, dh.c).
 * Input: one byte naming the call, one byte of flags, the session (any
 * bytes: every role and state, real or not), then the message; short
 * inputs are padded with zeros.
 *
 *   call 0: ea_verify_report(report)
 *   call 1: ea_dh_initiator_proc_msg1(msg1, session)
 *   call 2: ea_dh_responder_proc_msg2(msg2, session)
 *   call 3: ea_dh_initiator_proc_msg3(msg3, session)
 *   call 4: ea_dh_responder_gen_msg1(session)
 *   flags bit 0: play enclave B instead of A; bit 1: the platform cannot
 *   be reached for EGETKEY (an outage).
 *
 * Two enclaves on one platform with a fixed secret and report key id, so a
 * recorded exchange replays. Oracles beyond the sanitizers: on failure the
 * outputs are untouched and a session that was entered is wiped; messages
 * 2 and 3 end the session whatever happens; an outage is never success and
 * an outage in ea_verify_report is EA_ERR_SYS; a report the platform makes
 * for us verifies.
 *
 * Seeds are a real exchange: `EA_FUZZ_SEEDS=<dir> fuzz_report_dh` writes
 * them and exits.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/crypto.h"
#include "trust/trust.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t signer[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                   17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static eai_pcore_t pc;
static eai_local_platform_t la, lb;

struct outage {
    eai_tplat_t ops;
    const eai_local_platform_t *inner;
};
static struct outage oa, ob;

static int out_ereport(void *ctx, const ea_target_info_t *t, const ea_report_data_t *d,
                       ea_report_t *r)
{
    const struct outage *o = ctx;
    return o->inner->ops.ereport(o->inner->ops.ctx, t, d, r);
}

static int out_egetkey(void *ctx, const ea_key_request_t *req, uint8_t key[16])
{
    (void)ctx;
    (void)req;
    (void)key;
    return EA_ERR_SYS;
}

static int out_identity(void *ctx, eai_identity_t *id)
{
    const struct outage *o = ctx;
    return o->inner->ops.identity(o->inner->ops.ctx, id);
}

static void outage_init(struct outage *o, const eai_local_platform_t *inner)
{
    o->inner = inner;
    o->ops.ctx = o;
    o->ops.ereport = out_ereport;
    o->ops.egetkey = out_egetkey;
    o->ops.identity = out_identity;
}

static void identity(const char *img, eai_identity_t *id)
{
    eai_sigstruct_t s;
    memset(&s, 0, sizeof s);
    s.attributes.flags = EA_FLAGS_MODE64BIT;
    s.isv_prod_id = 1;
    s.isv_svn = 1;
    uint8_t sig[EAI_SIGSTRUCT_SIZE];
    char err[256];
    if (eai_measure(img, strlen(img), &s.attributes, s.mr_enclave) != EA_OK ||
        eai_sigstruct_sign(&s, signer) != EA_OK)
        abort();
    eai_sigstruct_encode(&s, sig);
    if (eai_einit(img, strlen(img), sig, sizeof sig, "img", "img.sig", id, err, sizeof err) !=
        EA_OK)
        abort();
}

static eai_identity_t ida, idb;

static void platform_init(void)
{
    for (size_t i = 0; i < sizeof pc.secret; i++)
        pc.secret[i] = (uint8_t)(0xa5 ^ i);
    memset(pc.report_key_id, 0x22, sizeof pc.report_key_id);
    identity("enclave A of the report_dh fuzz target", &ida);
    identity("enclave B of the report_dh fuzz target", &idb);
    eai_local_platform_init(&la, &pc, &ida, NULL);
    eai_local_platform_init(&lb, &pc, &idb, NULL);
    outage_init(&oa, &la);
    outage_init(&ob, &lb);
}

/* The largest message, so any input can be read as any of them. */
union msg {
    ea_report_t report;
    ea_dh_msg1_t m1;
    ea_dh_msg2_t m2;
    ea_dh_msg3_t m3;
};

static void write_seed(const char *dir, const char *name, uint8_t call, uint8_t flags,
                       const ea_dh_session_t *s, const void *m, size_t mlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fputc(call, f) == EOF || fputc(flags, f) == EOF ||
        fwrite(s, 1, sizeof *s, f) != sizeof *s || fwrite(m, 1, mlen, f) != mlen || fclose(f) != 0)
        abort();
}

/* One exchange, A initiator and B responder, recorded at each step. */
static void seeds(const char *dir)
{
    ea_dh_session_t si, sr, snap;
    ea_dh_msg1_t m1;
    ea_dh_msg2_t m2;
    ea_dh_msg3_t m3;
    uint8_t aek[16];
    ea_dh_identity_t id;
    if (ea_dh_init_session(EA_DH_ROLE_INITIATOR, &si) != EA_OK ||
        ea_dh_init_session(EA_DH_ROLE_RESPONDER, &sr) != EA_OK)
        abort();
    eai_trust_bind(&lb.ops);
    write_seed(dir, "gen-msg1", 4, 1, &sr, "", 0);
    if (ea_dh_responder_gen_msg1(&m1, &sr) != EA_OK)
        abort();
    eai_trust_bind(&la.ops);
    write_seed(dir, "msg1", 1, 0, &si, &m1, sizeof m1);
    if (ea_dh_initiator_proc_msg1(&m1, &m2, &si) != EA_OK)
        abort();
    write_seed(dir, "msg2", 2, 1, &sr, &m2, sizeof m2);
    write_seed(dir, "msg2-outage", 2, 3, &sr, &m2, sizeof m2);
    write_seed(dir, "report-for-b", 0, 1, &sr, &m2.report, sizeof m2.report);
    snap = si;
    eai_trust_bind(&lb.ops);
    if (ea_dh_responder_proc_msg2(&m2, &m3, &sr, aek, &id) != EA_OK)
        abort();
    write_seed(dir, "msg3", 3, 0, &snap, &m3, sizeof m3);
    write_seed(dir, "msg3-outage", 3, 2, &snap, &m3, sizeof m3);
    eai_trust_bind(&la.ops);
    if (ea_dh_initiator_proc_msg3(&m3, &si, aek, &id) != EA_OK)
        abort();
    eai_trust_bind(NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (eai_crypto_init() != EA_OK)
        abort();
    platform_init();
    const char *dir = getenv("EA_FUZZ_SEEDS");
    if (dir != NULL) {
        seeds(dir);
        exit(0);
    }
    return 0;
}

static int all_zero(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= b[i];
    return acc == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t call = data[0] % 5, flags = data[1];
    data += 2;
    size -= 2;
    ea_dh_session_t s;
    union msg m;
    memset(&s, 0, sizeof s);
    memset(&m, 0, sizeof m);
    size_t n = size < sizeof s ? size : sizeof s;
    memcpy(&s, data, n);
    data += n;
    size -= n;
    memcpy(&m, data, size < sizeof m ? size : sizeof m);

    int outage = flags & 2;
    const eai_local_platform_t *me = flags & 1 ? &lb : &la;
    const struct outage *down = flags & 1 ? &ob : &oa;
    eai_trust_bind(outage ? &down->ops : &me->ops);

    uint8_t aek[16];
    ea_dh_identity_t id;
    union msg out;
    memset(aek, 0x77, sizeof aek);
    memset(&id, 0x77, sizeof id);
    memset(&out, 0x77, sizeof out);
    union msg untouched;
    memset(&untouched, 0x77, sizeof untouched);
    int rc;
    switch (call) {
    case 0:
        rc = ea_verify_report(&m.report);
        if (outage && rc != EA_ERR_SYS)
            abort();
        break;
    case 1:
        rc = ea_dh_initiator_proc_msg1(&m.m1, &out.m2, &s);
        if (rc != EA_OK && (!all_zero(&s, sizeof s) || memcmp(&out, &untouched, sizeof out)))
            abort();
        break;
    case 2:
        rc = ea_dh_responder_proc_msg2(&m.m2, &out.m3, &s, aek, &id);
        if (!all_zero(&s, sizeof s) || (outage && rc == EA_OK))
            abort(); /* message 2 ends the session, and needs the platform */
        break;
    case 3:
        rc = ea_dh_initiator_proc_msg3(&m.m3, &s, aek, &id);
        if (!all_zero(&s, sizeof s) || (outage && rc == EA_OK))
            abort();
        break;
    default:
        rc = ea_dh_responder_gen_msg1(&out.m1, &s);
        if (rc != EA_OK && (!all_zero(&s, sizeof s) || memcmp(&out, &untouched, sizeof out)))
            abort();
        break;
    }
    if (rc != EA_OK && call != 0 && call != 1 && call != 4) {
        uint8_t a77[16];
        memset(a77, 0x77, sizeof a77);
        ea_dh_identity_t i77;
        memset(&i77, 0x77, sizeof i77);
        if (memcmp(aek, a77, 16) != 0 || memcmp(&id, &i77, sizeof id) != 0 ||
            (call == 2 && memcmp(&out, &untouched, sizeof out) != 0))
            abort();
    }
    /* Outages and our own reports: a report the platform makes for this
     * enclave verifies. */
    if (call == 0 && !outage) {
        ea_target_info_t ti;
        ea_report_t r;
        if (ea_self_target(&ti) != EA_OK || ea_create_report(&ti, NULL, &r) != EA_OK ||
            ea_verify_report(&r) != EA_OK)
            abort();
    }
    eai_trust_bind(NULL);
    return 0;
}
