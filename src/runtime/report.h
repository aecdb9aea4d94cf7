/*
 * What the launcher prints about a run (internal to src/runtime): the check
 * description, warnings, the arena layout for tests, why a child process
 * ended, the failed actor, and the summary, channel and memory reports.
 * (Attestation reports are another thing: see trust/report.c.)
 *
 * Everything read from the arena here is a report, not a decision: names
 * and counters are copied, bounded and cleaned before they are printed.
 */
#ifndef EAI_REPORT_H
#define EAI_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "base/model.h"
#include "core/rt.h"

/* `eactors check`: one line, on stdout. */
void eai_report_describe(const eai_deploy_t *d);
/* Warns on stderr about plain channels between enclaves and `none`
 * enclaves. */
void eai_report_insecure(const eai_deploy_t *d);
/* The public arena's layout on stderr (EACTORS_DEBUG_LAYOUT), for tests
 * that play a hostile host. */
void eai_report_layout(struct eai_rt *rt);
/* Reports on stderr why a child ended: enclave `enclave`, or the platform
 * service if enclave < 0, with wait status `status`. A clean exit while
 * shutting_down is not reported. Returns true if the end is a failure. */
bool eai_report_child(struct eai_rt *rt, int enclave, int status, bool shutting_down);
/* Reports on stderr the first actor that failed, if any; returns true if
 * one did. */
bool eai_report_actor_failure(struct eai_rt *rt);
/* The per-actor table after `secs` seconds of run. */
void eai_report_summary(struct eai_rt *rt, double secs, const char *mode, FILE *out);
/* Per channel: protection; for AEAD channels, the peer each end accepted
 * and its authentication failures; for any channel, each failed end with
 * its error and reason, the watchdog's stall reports and, for a channel
 * with either, the message counts; then the watchdog's total. */
void eai_report_channels(struct eai_rt *rt, FILE *out);
/* Arena and private memory of actors and channels. */
void eai_report_memory(struct eai_rt *rt, FILE *out);

#endif
