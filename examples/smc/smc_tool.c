/*
 * smc_tool: the host side of the secure-sum example (plain C, no eactors
 * code; smc.h for the shared formats).
 *
 *   smc_tool gen --words W --seed S [--marker TEXT] --out FILE
 *       writes a plaintext input of W 64-bit words (pseudo-random from S, or
 *       TEXT repeated); refuses an existing FILE.
 *   smc_tool seal --party NAME --in FILE --out FILE [--force]
 *                 [--image smc.so] [--eactors PATH]
 *       seals FILE for party NAME inside an enclave of the image (the same
 *       image the parties run: the blob is bound to its MRENCLAVE, to this
 *       platform, to NAME and to the length). Deletes nothing; an existing
 *       --out is kept unless --force.
 *   smc_tool deploy --parties N --words W --inputs DIR [--rounds R]
 *                   [--mode static|dynamic] [--reveal] [--timeout-ms T]
 *                   [--image smc.so] [--protect auto|plain] [--idle park|spin]
 *       prints a deployment: parties p0..p<N-1> in enclaves p0..p<N-1>
 *       (worker of p<i> on CPU i mod 2), the ring and ack channels, and a
 *       system actor `io` granting each party DIR read-only (its input is
 *       DIR/p<i>.sealed).
 *   smc_tool expect [--mode static|dynamic] [--round R] FILE...
 *       prints digest=, first= and last= of the sum of the plaintext inputs
 *       (as the revealing party prints them).
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "smc.h"

static void die(const char *msg, const char *arg)
{
    fprintf(stderr, "smc_tool: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

/* --key value options; flags (no value) listed in `flags`. */
struct opts {
    const char *k[16], *v[16];
    int n;
};

static void parse(struct opts *o, int argc, char **argv, const char *const *known,
                  const char *flags)
{
    o->n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0)
            break;
        int ok = 0;
        for (int j = 0; known[j]; j++)
            ok |= strcmp(a + 2, known[j]) == 0;
        if (!ok)
            die("unknown option", a);
        if (o->n == 16)
            die("too many options", NULL);
        o->k[o->n] = a + 2;
        char pat[40];
        snprintf(pat, sizeof pat, " %s ", a + 2);
        if (strstr(flags, pat)) {
            o->v[o->n++] = "1";
        } else {
            if (i + 1 >= argc)
                die("option needs a value", a);
            o->v[o->n++] = argv[++i];
        }
    }
}

static const char *opt(const struct opts *o, const char *k, const char *dflt)
{
    for (int i = o->n - 1; i >= 0; i--)
        if (strcmp(o->k[i], k) == 0)
            return o->v[i];
    return dflt;
}

static long long num(const struct opts *o, const char *k, long long dflt, long long lo,
                     long long hi)
{
    const char *v = opt(o, k, NULL);
    if (v == NULL)
        return dflt;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        fprintf(stderr, "smc_tool: --%s %s: expected %lld to %lld\n", k, v, lo, hi);
        exit(2);
    }
    return x;
}

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int cmd_gen(int argc, char **argv)
{
    static const char *const known[] = {"words", "seed", "marker", "out", NULL};
    struct opts o;
    parse(&o, argc, argv, known, " ");
    long long w = num(&o, "words", -1, SMC_MIN_WORDS, SMC_MAX_WORDS);
    uint64_t seed = (uint64_t)num(&o, "seed", 1, 0, LLONG_MAX);
    const char *marker = opt(&o, "marker", NULL), *out = opt(&o, "out", NULL);
    if (w < 0 || out == NULL)
        die("gen needs --words and --out", NULL);
    uint64_t *v = malloc((size_t)w * 8);
    if (v == NULL)
        die("out of memory", NULL);
    if (marker != NULL && marker[0] != '\0') {
        size_t ml = strlen(marker);
        for (size_t i = 0; i < (size_t)w * 8; i++)
            ((char *)v)[i] = marker[i % ml];
    } else {
        for (long long j = 0; j < w; j++)
            v[j] = splitmix(&seed);
    }
    int fd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "smc_tool: %s: %s\n", out, strerror(errno));
        return 1;
    }
    size_t len = (size_t)w * 8, done = 0;
    while (done < len) {
        ssize_t n = write(fd, (char *)v + done, len - done);
        if (n <= 0) {
            fprintf(stderr, "smc_tool: write %s: %s\n", out, strerror(errno));
            close(fd);
            return 1;
        }
        done += (size_t)n;
    }
    free(v);
    return close(fd) == 0 ? 0 : 1;
}

static uint64_t *read_vec(const char *path, size_t *words)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "smc_tool: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    uint64_t *v = malloc((size_t)SMC_MAX_WORDS * 8 + 8);
    size_t n = v ? fread(v, 1, (size_t)SMC_MAX_WORDS * 8 + 8, f) : 0;
    fclose(f);
    if (v == NULL || n % 8 || n / 8 < SMC_MIN_WORDS || n / 8 > SMC_MAX_WORDS) {
        fprintf(stderr, "smc_tool: %s: not %d to %d 64-bit words\n", path, SMC_MIN_WORDS,
                SMC_MAX_WORDS);
        exit(1);
    }
    *words = n / 8;
    return v;
}

static int cmd_expect(int argc, char **argv)
{
    static const char *const known[] = {"mode", "round", NULL};
    struct opts o;
    parse(&o, argc, argv, known, " ");
    int skip = 0;
    for (int i = 0; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2)
        skip = i + 2;
    const char *mode = opt(&o, "mode", "static");
    uint64_t r = (uint64_t)num(&o, "round", 0, 0, LLONG_MAX);
    int dyn = strcmp(mode, "dynamic") == 0;
    if (!dyn && strcmp(mode, "static") != 0)
        die("--mode: static or dynamic", mode);
    if (argc - skip < 1)
        die("expect needs input files", NULL);
    size_t words = 0;
    uint64_t *sum = NULL;
    for (int i = skip; i < argc; i++) {
        size_t w;
        uint64_t *v = read_vec(argv[i], &w);
        if (sum == NULL) {
            words = w;
            sum = calloc(w, 8);
            if (sum == NULL)
                die("out of memory", NULL);
        } else if (w != words) {
            die("inputs of different lengths", argv[i]);
        }
        for (size_t j = 0; j < w; j++)
            sum[j] += dyn ? v[j] * smc_dyn_mul(r) + r : v[j];
        free(v);
    }
    printf("digest=%016llx first=%llu last=%llu\n", (unsigned long long)smc_digest(sum, words),
           (unsigned long long)sum[0], (unsigned long long)sum[words - 1]);
    free(sum);
    return 0;
}

static int cmd_deploy(int argc, char **argv)
{
    static const char *const known[] = {"parties", "words",  "inputs", "rounds",
                                        "mode",    "reveal", "image",  "timeout-ms",
                                        "protect", "idle",   NULL};
    struct opts o;
    parse(&o, argc, argv, known, " reveal ");
    int n = (int)num(&o, "parties", -1, SMC_MIN_PARTIES, SMC_MAX_PARTIES);
    long long w = num(&o, "words", -1, SMC_MIN_WORDS, SMC_MAX_WORDS);
    long long rounds = num(&o, "rounds", 1, 1, LLONG_MAX);
    long long tmo = num(&o, "timeout-ms", 10000, 1, 86400000);
    const char *inputs = opt(&o, "inputs", NULL), *mode = opt(&o, "mode", "static");
    const char *image = opt(&o, "image", "smc.so"), *protect = opt(&o, "protect", "auto");
    const char *idle = opt(&o, "idle", "park");
    if (n < 0 || w < 0 || inputs == NULL)
        die("deploy needs --parties, --words and --inputs", NULL);
    if (strcmp(mode, "static") && strcmp(mode, "dynamic"))
        die("--mode: static or dynamic", mode);
    if (strcmp(protect, "auto") && strcmp(protect, "plain"))
        die("--protect: auto or plain", protect);
    if (strcmp(idle, "park") && strcmp(idle, "spin"))
        die("--idle: park or spin", idle);
    char dir[PATH_MAX];
    if (realpath(inputs, dir) == NULL)
        die("--inputs: no such directory", inputs);
    int reveal = opt(&o, "reveal", NULL) != NULL;
    long long ring_max = (long long)sizeof(smc_msg_t) + 8 * w;
    long long io_max = 8 * w + 4096;
    printf("<?xml version=\"1.0\"?>\n"
           "<!-- generated by smc_tool: secure sum of %d parties, %lld words, %s mode.\n"
           "     Party p<i> runs in enclave p<i> on CPU i mod 2 (two cores: parties share\n"
           "     them; idle workers park). Ring: ring<i> joins p<i> to p<i+1 mod N>;\n"
           "     ack<i> joins p0 to p<i> (probes when a round is late). -->\n<eactors>\n",
           n, w, mode);
    for (int i = 0; i < n; i++)
        printf("  <enclave name=\"p%d\" image=\"%s\"/>\n", i, image);
    for (int i = 0; i < n; i++)
        printf("  <worker name=\"w%d\" cpus=\"%d\" enclave=\"p%d\" idle=\"%s\"/>\n", i, i % 2, i,
               idle);
    printf("  <worker name=\"hio\" cpus=\"0-1\"/>\n  <sys name=\"io\" worker=\"hio\">\n");
    for (int i = 0; i < n; i++)
        printf("    <grant enclave=\"p%d\" files-ro=\"%s\" handles=\"8\"/>\n", i, dir);
    printf("  </sys>\n");
    for (int i = 0; i < n; i++) {
        printf("  <actor name=\"p%d\" type=\"smc_party\" worker=\"w%d\">\n", i, i);
        printf("    <param name=\"index\" value=\"%d\"/>\n", i);
        printf("    <param name=\"parties\" value=\"%d\"/>\n", n);
        printf("    <param name=\"words\" value=\"%lld\"/>\n", w);
        printf("    <param name=\"rounds\" value=\"%lld\"/>\n", rounds);
        printf("    <param name=\"mode\" value=\"%s\"/>\n", mode);
        printf("    <param name=\"input\" value=\"%s/p%d.sealed\"/>\n", dir, i);
        if (i == 0) {
            printf("    <param name=\"timeout_ms\" value=\"%lld\"/>\n", tmo);
            printf("    <param name=\"reveal\" value=\"%d\"/>\n", reveal);
        }
        printf("  </actor>\n");
    }
    for (int i = 0; i < n; i++)
        printf("  <channel name=\"ring%d\" between=\"p%d p%d\" nodes=\"3\" max=\"%lld\" "
               "protect=\"%s\"/>\n",
               i, i, (i + 1) % n, ring_max, protect);
    for (int i = 1; i < n; i++)
        printf("  <channel name=\"ack%d\" between=\"p0 p%d\" nodes=\"4\" max=\"64\" "
               "protect=\"%s\"/>\n",
               i, i, protect);
    for (int i = 0; i < n; i++)
        printf("  <channel name=\"io%d\" between=\"p%d io\" nodes=\"4\" max=\"%lld\"/>\n", i, i,
               io_max);
    printf("</eactors>\n");
    return 0;
}

/* The directory of `path`, resolved; dies if it does not exist. */
static void dir_of(const char *path, char out[PATH_MAX])
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    if (realpath(dirname(tmp), out) == NULL)
        die("no such directory for", path);
}

static int cmd_seal(int argc, char **argv)
{
    static const char *const known[] = {"party", "in", "out", "force", "image", "eactors", NULL};
    struct opts o;
    parse(&o, argc, argv, known, " force ");
    const char *party = opt(&o, "party", NULL), *in = opt(&o, "in", NULL);
    const char *out = opt(&o, "out", NULL);
    if (party == NULL || in == NULL || out == NULL)
        die("seal needs --party, --in and --out", NULL);
    if (party[0] == '\0' || strlen(party) >= SMC_NAME_MAX || strpbrk(party, "\"<>&'"))
        die("--party: 1 to 31 bytes, no XML special characters", party);
    /* Default image and tool: next to this program, then PATH. */
    char self[PATH_MAX], here[PATH_MAX], img[PATH_MAX + 16], tool[PATH_MAX + 32];
    ssize_t sl = readlink("/proc/self/exe", self, sizeof self - 1);
    if (sl <= 0)
        die("cannot find this program", NULL);
    self[sl] = '\0';
    snprintf(here, sizeof here, "%s", dirname(self));
    const char *image = opt(&o, "image", NULL);
    if (image == NULL) {
        snprintf(img, sizeof img, "%s/smc.so", here);
        image = img;
    }
    const char *eactors = opt(&o, "eactors", getenv("EACTORS"));
    if (eactors == NULL) {
        snprintf(tool, sizeof tool, "%s/../../tools/eactors", here);
        eactors = access(tool, X_OK) == 0 ? tool : "eactors";
    }
    char img_abs[PATH_MAX], in_abs[PATH_MAX], din[PATH_MAX], dout[PATH_MAX];
    char out_abs[2 * PATH_MAX + 2];
    if (realpath(image, img_abs) == NULL)
        die("--image: not found", image);
    if (realpath(in, in_abs) == NULL)
        die("--in: not found", in);
    dir_of(in_abs, din);
    dir_of(out, dout);
    char obase[PATH_MAX];
    snprintf(obase, sizeof obase, "%s", out);
    snprintf(out_abs, sizeof out_abs, "%s/%s", dout, basename(obase));
    if (strpbrk(in_abs, "\"<>&'") || strpbrk(out_abs, "\"<>&'") || strpbrk(img_abs, "\"<>&'"))
        die("paths must not hold XML special characters", NULL);

    char tdir[] = "/tmp/smc-seal-XXXXXX";
    if (mkdtemp(tdir) == NULL)
        die("cannot make a temporary directory", strerror(errno));
    char xml[64];
    snprintf(xml, sizeof xml, "%s/seal.xml", tdir);
    FILE *f = fopen(xml, "w");
    if (f == NULL)
        die("cannot write", xml);
    fprintf(f,
            "<?xml version=\"1.0\"?>\n<eactors>\n"
            "  <enclave name=\"sealer\" image=\"%s\"/>\n"
            "  <worker name=\"ws\" cpus=\"0-1\" enclave=\"sealer\"/>\n"
            "  <worker name=\"hio\" cpus=\"0-1\"/>\n"
            "  <sys name=\"io\" worker=\"hio\">\n",
            img_abs);
    if (strcmp(din, dout) == 0)
        fprintf(f, "    <grant enclave=\"sealer\" files=\"%s\"/>\n", dout);
    else
        fprintf(f, "    <grant enclave=\"sealer\" files-ro=\"%s\" files=\"%s\"/>\n", din, dout);
    fprintf(f,
            "  </sys>\n"
            "  <actor name=\"seal\" type=\"smc_seal\" worker=\"ws\">\n"
            "    <param name=\"party\" value=\"%s\"/>\n"
            "    <param name=\"in\" value=\"%s\"/>\n"
            "    <param name=\"out\" value=\"%s\"/>\n"
            "    <param name=\"force\" value=\"%d\"/>\n"
            "  </actor>\n"
            "  <channel name=\"io\" between=\"seal io\" nodes=\"4\" max=\"%d\"/>\n"
            "</eactors>\n",
            party, in_abs, out_abs, opt(&o, "force", NULL) != NULL, SMC_MAX_WORDS * 8 + 4096);
    if (fclose(f) != 0)
        die("cannot write", xml);
    pid_t pid = fork();
    if (pid == 0) {
        execlp(eactors, eactors, "run", "--quiet", xml, (char *)NULL);
        fprintf(stderr, "smc_tool: cannot run %s: %s\n", eactors, strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0)
        status = 1 << 8;
    unlink(xml); /* our own temporary file, nothing of the user's */
    rmdir(tdir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "smc_tool: sealing failed\n");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: smc_tool gen|seal|deploy|expect [options] (see smc_tool.c)", NULL);
    if (strcmp(argv[1], "gen") == 0)
        return cmd_gen(argc - 2, argv + 2);
    if (strcmp(argv[1], "seal") == 0)
        return cmd_seal(argc - 2, argv + 2);
    if (strcmp(argv[1], "deploy") == 0)
        return cmd_deploy(argc - 2, argv + 2);
    if (strcmp(argv[1], "expect") == 0)
        return cmd_expect(argc - 2, argv + 2);
    die("unknown command", argv[1]);
    return 2;
}
