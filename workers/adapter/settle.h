/*
 * settle.h - the end of a run. A run that did its job ends its job; a failed
 * one runs again after a backoff (1 s, 2 s, 4 s ... up to --retries), and
 * after the last failure the assignment is returned to the broker, or the
 * notice released unacknowledged, so that no case is lost with the command.
 * An assignment whose command reported contacted or progress before it
 * failed is neither: it stays open with the department, the failure logged.
 * A run that exits 0 without one outcome line failed: else its assignment
 * would stay dispatched for good, holding a slot of --capacity.
 */
#ifndef ADAPTER_SETTLE_H
#define ADAPTER_SETTLE_H

#include "adapter.h"

#include <stdint.h>

/* Settle every run that is over: drop its job, or keep it for a retry. */
void settle_runs(adapter_t *ad, int64_t now);
/* Shutdown: kill what still runs, and drop every job, logged as left with
 * the broker, which delivers it again. */
void settle_abandon_all(adapter_t *ad);

#endif
