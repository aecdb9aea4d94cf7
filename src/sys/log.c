/*
 * The system actor's log: EA_LOG requests, one line of text each, printed on
 * the host's standard error as "[domain/channel] text". No completion is
 * sent, so a requester may log without keeping a request in flight.
 *
 * Design notes.
 *
 * The text comes from a requester, and the line goes to whoever reads the
 * host's output: the text is cut to 1023 bytes, its trailing newlines are
 * dropped and every ASCII control byte (and DEL) becomes '?', so one request
 * prints exactly one line. The prefix names the requester from the
 * runtime's records (its domain and the channel's peer), never from the
 * message. The core also prints the last lines of a requester that has
 * ended (sys.c, last_logs).
 */
#include <stdio.h>
#include <string.h>

#include "sys/sys_int.h"

void eai_sys_log(struct sys *s, unsigned ci, const ea_sys_msg_t *req, const uint8_t *p)
{
    char line[1024];
    uint32_t n = req->len < sizeof line - 1 ? req->len : (uint32_t)sizeof line - 1;
    memcpy(line, p, n);
    while (n > 0 && line[n - 1] == '\n')
        n--;
    for (uint32_t i = 0; i < n; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[n] = '\0';
    ea_conn_t *c = ea_conn_at(s->self, ci);
    fprintf(stderr, "[%s/%s] %s\n", eai_domain_name(s->self, s->cl[ci].domain), ea_conn_peer(c),
            line);
}
