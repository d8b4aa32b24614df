/*
 * delivery.h - taking work from the broker: each assignment or escalation
 * notice libminqing delivers becomes a job at the end of the adapter's list,
 * unless it is a copy of one this adapter has, or had, or it is stopping.
 */
#ifndef ADAPTER_DELIVERY_H
#define ADAPTER_DELIVERY_H

#include "adapter.h"

#include <stdbool.h>
#include <stdint.h>

/* Take everything the broker has for us now, and log the outcomes it
 * refused since the last call; -1 on a fatal library error. */
int delivery_take(adapter_t *ad);
/* Hand a notice back to libminqing unacknowledged; false with mq_strerror(). */
bool delivery_release(adapter_t *ad, uint64_t escalation_id);
/* Log the outcomes the broker refused (ERROR 1xx-3xx) since the last look,
 * which the library counts: one outcome.refused record, with the last reason. */
void delivery_note_refusals(adapter_t *ad);

#endif
