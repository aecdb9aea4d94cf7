/* The eactors command: run and check deployments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/launch.h"
#include "runtime/deploy.h"
#include "runtime/platformd.h"
#include "tools/cmds.h"

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: eactors run [--quiet] [--backend proc|none] [--platform auto|system|development]\n"
        "                   [--platform-socket PATH] [--platform-dir DIR] DEPLOYMENT.xml\n"
        "       eactors check DEPLOYMENT.xml\n"
        "       eactors keygen --out KEY.pem\n"
        "       eactors sign --key KEY.pem [--prodid N] [--svn N] [--debug] [--system-only] "
        "IMAGE.so\n"
        "       eactors measure [--debug] IMAGE.so\n"
        "       eactors inspect IMAGE.so\n"
        "       eactors platform run [--socket PATH] [--dir DIR] [--user U] [--enclave-user U|-]\n"
        "       eactors platform install [--unit-dir DIR]\n"
        "       eactors --version\n"
        "\n"
        "run     start every enclave, worker and actor of the deployment; ends when all\n"
        "        actors are done (exit 0), on SIGINT/SIGTERM (130/143), or when an actor\n"
        "        fails or an enclave dies (exit 1). Prints a per-actor summary on stderr.\n"
        "check   validate the deployment (and the actor types of its images) only.\n"
        "--backend  override every enclave's backend ('none' is insecure: debugging).\n"
        "--platform  system: enclaves come from the platform daemon (production keys);\n"
        "        development: a private platform this user controls (DEBUG keys); auto\n"
        "        (default): system if a daemon answers at --platform-socket (default\n"
        "        $EACTORS_PLATFORM_SOCKET, else /run/eactors/platform.sock).\n"
        "--platform-dir  development mode's secret and counters (default\n"
        "        $EACTORS_PLATFORM_DIR, else ~/.local/share/eactors/platform).\n"
        "platform run  the platform daemon (as root: becomes --user, default eactors;\n"
        "        enclaves run as --enclave-user, default eactors-enclave).\n"
        "platform install  create those users, /var/lib/eactors/platform and the\n"
        "        systemd unit eactors-platform.service (as root).\n"
        "keygen  make an Ed25519 signing key; sign: write IMAGE.so.sig (SIGSTRUCT);\n"
        "measure print MRENCLAVE; inspect: print and check an image's identity.\n");
}

static int cmd_platform(int argc, char **argv)
{
    eai_pd_opts_t o = {0};
    const char *unit_dir = NULL;
    const char *what = argc > 0 ? argv[0] : "";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
            o.socket = argv[++i];
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            o.dir = argv[++i];
        else if (strcmp(argv[i], "--user") == 0 && i + 1 < argc)
            o.user = argv[++i];
        else if (strcmp(argv[i], "--enclave-user") == 0 && i + 1 < argc)
            o.enclave_user = argv[++i];
        else if (strcmp(argv[i], "--unit-dir") == 0 && i + 1 < argc)
            unit_dir = argv[++i];
        else {
            fprintf(stderr, "eactors platform: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    if (strcmp(what, "run") == 0)
        return eai_platformd_main(&o);
    if (strcmp(what, "install") == 0)
        return eai_platformd_install(unit_dir);
    fprintf(stderr, "usage: eactors platform run|install [options] (eactors --help)\n");
    return 2;
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
    if (strcmp(argv[1], "enclave-exec") == 0 && argc == 4)
        eai_enclave_exec(atoi(argv[2]), argv[3]);
    if (strcmp(argv[1], "platform") == 0)
        return cmd_platform(argc - 2, argv + 2);
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
        } else if (strcmp(argv[i], "--platform-socket") == 0 && i + 1 < argc) {
            o.platform_socket = argv[++i];
        } else if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc) {
            i++;
            if (strcmp(argv[i], "auto") == 0)
                o.platform_mode = EAI_PLATFORM_AUTO;
            else if (strcmp(argv[i], "system") == 0)
                o.platform_mode = EAI_PLATFORM_SYSTEM;
            else if (strcmp(argv[i], "development") == 0)
                o.platform_mode = EAI_PLATFORM_DEVELOPMENT;
            else {
                fprintf(stderr,
                        "eactors: unknown platform mode '%s' (auto, system or development)\n",
                        argv[i]);
                return 2;
            }
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
