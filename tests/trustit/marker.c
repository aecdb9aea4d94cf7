/*
 * An image whose ELF constructor leaves a trace: it creates the file named by
 * EA_MARKER_FILE when the image is loaded. A tampered copy must be refused
 * before this code can run.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <eactors/eactors.h>

__attribute__((constructor)) static void leave_trace(void)
{
    const char *path = getenv("EA_MARKER_FILE");
    if (path != NULL) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            close(fd);
    }
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
