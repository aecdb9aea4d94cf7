/* The eactors command: run and check deployments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/launch.h"
#include "runtime/deploy.h"
#include "tools/cmds.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: eactors run [--quiet] [--backend proc|none] [--platform-dir DIR] "
            "DEPLOYMENT.xml\n"
            "       eactors check DEPLOYMENT.xml\n"
            "       eactors keygen --out KEY.pem\n"
            "       eactors sign --key KEY.pem [--prodid N] [--svn N] [--debug] IMAGE.so\n"
            "       eactors measure [--debug] IMAGE.so\n"
            "       eactors inspect IMAGE.so\n"
            "       eactors --version\n"
            "\n"
            "run     start every enclave, worker and actor of the deployment; ends when all\n"
            "        actors are done (exit 0), on SIGINT/SIGTERM (130/143), or when an actor\n"
            "        fails or an enclave dies (exit 1). Prints a per-actor summary on stderr.\n"
            "check   validate the deployment (and the actor types of its images) only.\n"
            "--backend  override every enclave's backend ('none' is insecure: debugging).\n"
            "--platform-dir  the platform's secret and counters (default\n"
            "        $EACTORS_PLATFORM_DIR, else ~/.local/share/eactors/platform).\n"
            "keygen  make an Ed25519 signing key; sign: write IMAGE.so.sig (SIGSTRUCT);\n"
            "measure print MRENCLAVE; inspect: print and check an image's identity.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("eactors 0.1.0\n");
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "keygen") == 0)
        return cmd_keygen(argc - 2, argv + 2);
    if (strcmp(argv[1], "sign") == 0)
        return cmd_sign(argc - 2, argv + 2);
    if (strcmp(argv[1], "measure") == 0)
        return cmd_measure(argc - 2, argv + 2);
    if (strcmp(argv[1], "inspect") == 0)
        return cmd_inspect(argc - 2, argv + 2);
    eai_run_opts_t o = {.backend = -1};
    if (strcmp(argv[1], "check") == 0)
        o.check_only = true;
    else if (strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "eactors: unknown command '%s'\n", argv[1]);
        usage(stderr);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            o.quiet = true;
        } else if (strcmp(argv[i], "--platform-dir") == 0 && i + 1 < argc) {
            o.platform_dir = argv[++i];
        } else if (strcmp(argv[i], "--backend") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "proc") == 0)
                o.backend = EAI_BACKEND_PROC;
            else if (strcmp(argv[i], "none") == 0)
                o.backend = EAI_BACKEND_NONE;
            else {
                fprintf(stderr, "eactors: unknown backend '%s' (expected proc or none)\n", argv[i]);
                return 2;
            }
        } else if (argv[i][0] == '-') {
            fprintf(stderr, "eactors: unknown option '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        } else if (o.path == NULL) {
            o.path = argv[i];
        } else {
            fprintf(stderr, "eactors: more than one deployment file given\n");
            return 2;
        }
    }
    if (o.path == NULL) {
        fprintf(stderr, "eactors: no deployment file given\n");
        usage(stderr);
        return 2;
    }
    return eai_launch(&o);
}
