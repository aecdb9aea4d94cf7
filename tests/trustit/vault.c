/*
 * Actors that use the trust API from inside an enclave: sealing, monotonic
 * counters, and reports exchanged between two enclaves over a channel.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <eactors/eactors.h>
#include <eactors/ea_trust.h>

struct empty {
    int unused;
};

static int seal_round_trip(uint16_t policy)
{
    static const char secret[] = "the vault's secret";
    static const char aad[] = "label";
    uint32_t size = ea_calc_sealed_data_size(sizeof aad, sizeof secret);
    ea_sealed_data_t *blob = malloc(size);
    if (blob == NULL)
        return EA_ERR_NOMEM;
    ea_attributes_t mask = {.flags = EA_FLAGS_INITTED | EA_FLAGS_DEBUG, .xfrm = 0};
    int rc = ea_seal_data_ex(policy, mask, 0, sizeof aad, (const uint8_t *)aad, sizeof secret,
                             (const uint8_t *)secret, size, blob);
    char out[sizeof secret], label[sizeof aad];
    uint32_t outlen = sizeof out, labellen = sizeof label;
    if (rc == EA_OK)
        rc = ea_unseal_data(blob, (uint8_t *)label, &labellen, (uint8_t *)out, &outlen);
    if (rc == EA_OK && (outlen != sizeof secret || memcmp(out, secret, outlen) != 0 ||
                        labellen != sizeof aad || memcmp(label, aad, labellen) != 0))
        rc = EA_ERR_AUTH;
    /* A flipped ciphertext byte must be refused. */
    if (rc == EA_OK) {
        blob->aes_data.payload[0] ^= 1;
        outlen = sizeof out;
        labellen = sizeof label;
        int bad = ea_unseal_data(blob, (uint8_t *)label, &labellen, (uint8_t *)out, &outlen);
        rc = bad == EA_ERR_AUTH ? EA_OK : EA_ERR_ACTOR;
    }
    free(blob);
    return rc;
}

static int parse_uuid(const char *hex, ea_mc_uuid_t *u)
{
    uint8_t *b = (uint8_t *)u;
    if (strlen(hex) != 32)
        return -1;
    for (int i = 0; i < 16; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        b[i] = (uint8_t)v;
    }
    return 0;
}

/* Seals and unseals under both policies, then creates or increments a
 * monotonic counter (param `counter`: its uuid from an earlier run). */
static int vault_body(ea_actor_t *self, void *state)
{
    (void)state;
    int rc = seal_round_trip(EA_KEYPOLICY_MRENCLAVE);
    if (rc == EA_OK)
        rc = seal_round_trip(EA_KEYPOLICY_MRSIGNER);
    if (rc != EA_OK) {
        printf("vault in %s: sealing failed: %s\n", ea_domain(self), ea_strerror(rc));
        fflush(stdout);
        return rc == EA_ERR_PERM ? EA_DONE : rc;
    }
    printf("vault: sealed and unsealed under MRENCLAVE and MRSIGNER policies\n");
    ea_mc_uuid_t uuid;
    uint32_t value = 0;
    const char *given = ea_param(self, "counter");
    if (given == NULL) {
        if ((rc = ea_create_monotonic_counter(&uuid, &value)) != EA_OK)
            return rc;
        printf("vault: created counter ");
        for (size_t i = 0; i < sizeof uuid; i++)
            printf("%02x", ((uint8_t *)&uuid)[i]);
        printf(" at %u\n", value);
    } else if (parse_uuid(given, &uuid) != 0) {
        return EA_ERR_INVAL;
    }
    if ((rc = ea_increment_monotonic_counter(&uuid, &value)) != EA_OK)
        return rc;
    uint32_t again = 0;
    if ((rc = ea_read_monotonic_counter(&uuid, &again)) != EA_OK || again != value)
        return rc ? rc : EA_ERR_ACTOR;
    printf("vault: counter now %u\n", value);
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(vault, struct empty, NULL, vault_body);

/* What an attacker who can choose the backend would want: the enclave's
 * production seal key. Asks for it with DEBUG left out of the mask and
 * prints it with the DEBUG attribute the platform gave this enclave (test
 * image only: a real enclave never prints a key). */
static int keyprint_body(ea_actor_t *self, void *state)
{
    (void)state;
    ea_target_info_t me;
    ea_key_request_t kr;
    memset(&kr, 0, sizeof kr);
    kr.key_name = EA_KEYSELECT_SEAL;
    kr.key_policy = EA_KEYPOLICY_MRENCLAVE;
    kr.attribute_mask.flags = EA_FLAGS_INITTED;
    uint8_t key[EA_KEY_SIZE];
    int rc = ea_self_target(&me);
    if (rc == EA_OK)
        rc = ea_get_key(&kr, key);
    if (rc != EA_OK) {
        printf("keyprint in %s: %s\n", ea_domain(self), ea_strerror(rc));
        return EA_DONE;
    }
    printf("keyprint in %s: debug=%s key=", ea_domain(self),
           (me.attributes.flags & EA_FLAGS_DEBUG) ? "yes" : "no");
    for (int i = 0; i < EA_KEY_SIZE; i++)
        printf("%02x", key[i]);
    printf("\n");
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(keyprint, struct empty, NULL, keyprint_body);

/*
 * Reports: `asker` sends its target info to `reporter`, which answers with a
 * report for that target binding the text "hello from the reporter"; the
 * asker verifies it. With param flip=1 the reporter flips a byte of the
 * report body first, and the asker must refuse it.
 */
struct asker {
    int sent;
};
static int asker_body(ea_actor_t *self, void *state)
{
    struct asker *s = state;
    ea_conn_t *c = ea_conn_at(self, 0);
    ea_cargo_t m;
    int rc;
    if (!s->sent) {
        if ((rc = ea_cargo_alloc(c, sizeof(ea_target_info_t), &m)) != EA_OK)
            return rc;
        if ((rc = ea_self_target(m.data)) != EA_OK || (rc = ea_cargo_send(&m)) != EA_OK) {
            ea_cargo_release(&m);
            return rc;
        }
        s->sent = 1;
        return EA_IDLE;
    }
    rc = ea_cargo_recv(c, &m);
    if (rc == EA_ERR_EMPTY)
        return ea_stopping(self) ? EA_DONE : EA_IDLE;
    if (rc != EA_OK)
        return rc;
    ea_report_t r;
    int ok = m.len == sizeof r;
    if (ok)
        memcpy(&r, m.data, sizeof r);
    ea_cargo_release(&m);
    rc = ok ? ea_verify_report(&r) : EA_ERR_INVAL;
    if (rc == EA_OK && strcmp((const char *)r.body.report_data.d, "hello from the reporter") != 0)
        rc = EA_ERR_AUTH;
    if (rc == EA_OK) {
        printf("asker: verified a report from mrenclave %02x%02x%02x%02x.. isvsvn %u: %s\n",
               r.body.mr_enclave[0], r.body.mr_enclave[1], r.body.mr_enclave[2],
               r.body.mr_enclave[3], r.body.isv_svn, (const char *)r.body.report_data.d);
        /* Whom the channel itself was attested with (the enclave's own
         * record, not the arena): the same enclave that made the report. */
        ea_dh_identity_t peer;
        int prc = ea_conn_peer_identity(c, &peer);
        if (prc == EA_OK)
            printf("asker: channel peer attested: mrenclave %02x%02x%02x%02x.. same as report: "
                   "%s\n",
                   peer.mr_enclave[0], peer.mr_enclave[1], peer.mr_enclave[2], peer.mr_enclave[3],
                   memcmp(peer.mr_enclave, r.body.mr_enclave, 32) == 0 ? "yes" : "no");
        else
            printf("asker: channel peer not attested: %s\n", ea_strerror(prc));
    } else {
        printf("asker: report refused: %s\n", ea_strerror(rc));
    }
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(asker, struct asker, NULL, asker_body);

static int reporter_body(ea_actor_t *self, void *state)
{
    (void)state;
    ea_conn_t *c = ea_conn_at(self, 0);
    ea_cargo_t in, out;
    int rc = ea_cargo_recv(c, &in);
    if (rc == EA_ERR_EMPTY)
        return ea_stopping(self) ? EA_DONE : EA_IDLE;
    if (rc != EA_OK)
        return rc;
    ea_target_info_t ti;
    int ok = in.len == sizeof ti;
    if (ok)
        memcpy(&ti, in.data, sizeof ti);
    ea_cargo_release(&in);
    if (!ok)
        return EA_ERR_INVAL;
    ea_report_data_t data;
    memset(&data, 0, sizeof data);
    snprintf((char *)data.d, sizeof data.d, "hello from the reporter");
    if ((rc = ea_cargo_alloc(c, sizeof(ea_report_t), &out)) != EA_OK)
        return rc;
    if ((rc = ea_create_report(&ti, &data, out.data)) != EA_OK) {
        ea_cargo_release(&out);
        return rc;
    }
    if (ea_param_int(self, "flip", 0, NULL))
        ((ea_report_t *)out.data)->body.isv_svn ^= 1;
    if ((rc = ea_cargo_send(&out)) != EA_OK) {
        ea_cargo_release(&out);
        return rc;
    }
    return EA_DONE;
}
EA_ACTOR(reporter, struct empty, NULL, reporter_body);

/*
 * A compromised host actor (say, through a parser bug) goes for the platform
 * secret and the network. It reads the file named by param "path" (default:
 * the platform secret) and connects to TCP port "port" on loopback (if
 * given), and prints what it got. Plain libc calls: no LD_PRELOAD, no help.
 */
static int snoop_body(ea_actor_t *self, void *state)
{
    (void)state;
    char path[4096];
    const char *p = ea_param(self, "path");
    const char *dir = getenv("EACTORS_PLATFORM_DIR");
    if (p == NULL)
        snprintf(path, sizeof path, "%s/secret", dir != NULL ? dir : ".");
    else
        snprintf(path, sizeof path, "%s", p);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("snoop: %s: %s\n", path, strerror(errno));
    } else {
        char buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        printf("snoop: %s: read %zd bytes\n", path, n);
        close(fd);
    }
    long port = ea_param_int(self, "port", 0, NULL);
    if (port > 0) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int rc = s < 0 ? -1 : connect(s, (struct sockaddr *)&a, sizeof a);
        printf("snoop: connect to port %ld: %s\n", port, rc == 0 ? "connected" : strerror(errno));
        if (s >= 0)
            close(s);
    }
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(snoop, struct empty, NULL, snoop_body);

/* Reports travel over `rq`: the image insists that its other end is an
 * attested enclave, whatever the deployment says. */
EA_CHANNEL_POLICY(.attested = EA_CHANNELS("rq"));
