/*
 * The launcher's channel watchdog (internal to src/runtime): reports a
 * channel that has messages pending and makes no progress, once per stall.
 * The launcher is the host: the watchdog only reads the progress counters
 * the enclaves publish in the arena and reports; it decides nothing for an
 * enclave.
 */
#ifndef EAI_WATCHDOG_H
#define EAI_WATCHDOG_H

#include "core/rt.h"

/* Default seconds without progress before a stall is reported; the
 * environment variable EACTORS_WATCHDOG_SECS (1 to 3600) overrides it. */
#define EAI_WATCHDOG_SECS 5u

/* Called from the supervise loop, as often as it likes: looks at every
 * channel at most twice a second and prints, on stderr,
 *   eactors: watchdog: channel 'app' (front -> handler): 3 messages pending,
 *   no progress for 5 s
 * once for each stall (a direction with sent > received whose receiver is
 * live and has received nothing for the limit), unless the run is stopping
 * or an end of the channel failed (that was reported already). */
void eai_watchdog_tick(struct eai_rt *rt);

/* Stalls reported so far on channel `chan` in direction `dir` (0: from actor
 * a to actor b, 1: back), and in the whole run. */
unsigned eai_watchdog_stalls(int chan, int dir);
unsigned eai_watchdog_total(void);

#endif
