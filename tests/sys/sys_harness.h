/*
 * Test harness: a system actor (src/sys, the runtime's builtin "sys" type)
 * run in-process, without a launcher, an arena or worker threads, by unit
 * tests and fuzz targets. It is served by `n` requesters, requester i in
 * its own enclave "r<i>" with one channel to the system actor, and the
 * deployment model holds the <grant> of each (rights and limits), which
 * the test fills before sys_h_start. The test plays the requesters on
 * their connectors and runs the system actor's body by hand
 * (sys_h_step); only the actor's own io thread runs beside it.
 */
#ifndef EA_TEST_SYS_HARNESS_H
#define EA_TEST_SYS_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <eactors/ea_sys.h>

#include "base/model.h"

#define SYS_H_MAX 4 /* requesters */

struct sys_harness;

/* A harness of n (1..SYS_H_MAX) requesters with channels of `nodes` nodes
 * of `max` bytes. Grants are empty (no rights, default limits) until set
 * with sys_h_grant. NULL on failure. */
struct sys_harness *sys_h_new(unsigned n, uint32_t nodes, uint32_t max);

/* Requester i's grant, to fill before sys_h_start (its arrays are the
 * caller's and must outlive the harness). */
eai_dep_grant_t *sys_h_grant(struct sys_harness *h, unsigned i);

/* Runs the system actor's constructor. EA_OK or its error. */
int sys_h_start(struct sys_harness *h);

/* Requester i's connector (its end of the channel to the system actor). */
ea_conn_t *sys_h_conn(struct sys_harness *h, unsigned i);

/* The system actor's end of requester i's channel, to forge what a
 * hostile host could send (the system actor itself never sees it used). */
ea_conn_t *sys_h_sys_conn(struct sys_harness *h, unsigned i);

/* One step of the system actor's body; returns what the body returned. */
int sys_h_step(struct sys_harness *h);

/* Requester i ends (the system actor closes what it held on its next step). */
void sys_h_end(struct sys_harness *h, unsigned i);

/* Sends one raw request from requester i: header m (magic and len are set
 * here) and len payload bytes. EA_OK or the send error. */
int sys_h_send(struct sys_harness *h, unsigned i, ea_sys_msg_t m, const void *payload,
               uint32_t len);

/* Steps the system actor until requester i has a message (at most `steps`
 * steps, sleeping 1 ms between them when a step found nothing) and takes
 * it: header into *m, payload into buf (cap bytes, cut), NUL-terminated
 * if room. false if none came. */
bool sys_h_recv(struct sys_harness *h, unsigned i, ea_sys_msg_t *m, char *buf, size_t cap,
                int steps);

/* Stops the run: the body finishes (EA_DONE) and frees everything; then
 * the harness is freed. Returns the body's last result. */
int sys_h_free(struct sys_harness *h);

/* Descriptors this process has open now. */
int sys_h_fds(void);

#endif
