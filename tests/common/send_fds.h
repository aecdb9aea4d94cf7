/*
 * Sending a record with descriptors the way a hostile peer would: any
 * number of them, split over one or two SCM_RIGHTS control messages. Used
 * by the platform-service test and fuzz target. Header-only (no cmocka):
 * fuzz targets include it too.
 */
#ifndef EA_TEST_SEND_FDS_H
#define EA_TEST_SEND_FDS_H

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>

/* Sends `len` bytes of `buf` on `fd` with nfds descriptors: the first
 * `first` in one control message, the rest (if any) in a second. Returns
 * sendmsg's result (-1 also if memory ran out). */
static inline ssize_t ea_test_send_fds(int fd, const void *buf, size_t len, const int *fds,
                                       int nfds, int first, int flags)
{
    struct iovec iov = {.iov_base = (void *)buf, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (first > nfds)
        first = nfds;
    size_t space = nfds > 0 ? 2 * CMSG_SPACE(sizeof(int) * (size_t)nfds) : 0;
    char *cbuf = space > 0 ? calloc(1, space) : NULL;
    if (space > 0 && cbuf == NULL)
        return -1;
    if (nfds > 0) {
        msg.msg_control = cbuf;
        msg.msg_controllen = space;
        struct cmsghdr *h = CMSG_FIRSTHDR(&msg);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)first);
        memcpy(CMSG_DATA(h), fds, sizeof(int) * (size_t)first);
        size_t used = CMSG_SPACE(sizeof(int) * (size_t)first);
        if (first < nfds) {
            h = CMSG_NXTHDR(&msg, h);
            h->cmsg_level = SOL_SOCKET;
            h->cmsg_type = SCM_RIGHTS;
            h->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)(nfds - first));
            memcpy(CMSG_DATA(h), fds + first, sizeof(int) * (size_t)(nfds - first));
            used += CMSG_SPACE(sizeof(int) * (size_t)(nfds - first));
        }
        msg.msg_controllen = used;
    }
    ssize_t n = sendmsg(fd, &msg, flags);
    free(cbuf);
    return n;
}

#endif
