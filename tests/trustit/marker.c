/*
 * A correctly signed but malicious image: its ELF constructor runs when the
 * image is loaded, before any actor, and tries what an attacker's
 * constructor would: read the platform secret (from which every report and
 * seal key can be derived), and, with EA_MARKER_ATTACK=socket, open a
 * network socket. It prints what it got, so a test can tell
 *  - that the constructor ran at all (an untampered image),
 *  - that a tampered image never ran (no line),
 *  - what the confinement let it do (the secret: Permission denied).
 * tests/trustit/ctor_control.c loads the same image the way an unconfined
 * loader would, to show the attack works without the confinement.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <eactors/eactors.h>

__attribute__((constructor)) static void attack(void)
{
    const char *dir = getenv("EACTORS_PLATFORM_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/secret", dir != NULL ? dir : ".");
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        printf("marker constructor: secret: %s\n", strerror(errno));
    } else {
        unsigned char buf[64];
        ssize_t n = read(fd, buf, sizeof buf);
        printf("marker constructor: secret: read %zd bytes\n", n);
        close(fd);
    }
    const char *what = getenv("EA_MARKER_ATTACK");
    if (what != NULL && strcmp(what, "socket") == 0) {
        fflush(stdout);
        int s = socket(AF_INET, SOCK_STREAM, 0);
        printf("marker constructor: socket: %s\n", s >= 0 ? "opened" : strerror(errno));
    }
    fflush(stdout);
}

struct empty {
    int unused;
};

static int marker_body(ea_actor_t *self, void *state)
{
    (void)state;
    printf("marker ran in %s\n", ea_domain(self));
    fflush(stdout);
    return EA_DONE;
}
EA_ACTOR(marker, struct empty, NULL, marker_body);
