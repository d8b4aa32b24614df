/*
 * fuzz_apply.c - libFuzzer target for the broker's message handling: frames
 * are decoded as the broker does and applied to a real (in-memory) store,
 * as an intake client or as a worker of the water department, with the
 * state machine, routing, deadlines and the audit trail all running. Each
 * input runs in its own transaction, rolled back after, on a database seeded
 * with open cases and assignments, so every input starts from the same state.
 */
#include "apply.h"
#include "codec.h"
#include "config.h"
#include "store.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char conf[] =
    "[broker]\nintake = ipc:///tmp/fz-i\nworkers = ipc:///tmp/fz-w\nevents = ipc:///tmp/fz-e\n"
    "database = :memory:\nmanual_department = dispatch\nauto_close = 1s\n"
    "[departments]\ndispatch = 派单中心\nwater = 水务局\nurban = 城管局\n"
    "[routes]\nwater.leak = water\nroad.pothole = urban, water\ndefault = dispatch\n"
    "[deadlines]\ncontact = 1s\nresolve = 2wd\n";

static config_t *cfg;
static store_t *st;
static codec_t *codec;
static apply_t a;

static void seed(void)
{
    msg_t in, reply;
    msg_reset(&in, MSG_SUBMIT);
    in.msg_id = "seed";
    MSG_SET(&in, MF_MSG_ID), MSG_SET(&in, MF_CASE);
    in.kase = (msg_case_t){.service_code = "road.pothole", .description = "路面坑洼",
                           .channel = "hotline", .grid_code = "CG01-XH01-G0001"};
    for (uint64_t p = CF_SERVICE_CODE; p <= CF_GRID_CODE; p++)
        if (p == CF_SERVICE_CODE || p == CF_DESCRIPTION || p == CF_EXTERNAL_ID ||
            p == CF_CHANNEL || p == CF_GRID_CODE)
            MSG_SET(&in.kase, p);
    char ext[16];
    store_begin(st);
    for (int i = 0; i < 4; i++) {
        snprintf(ext, sizeof ext, "seed-%d", i);
        in.kase.external_id = ext;
        apply_reset(&a, 1700000000000 + i);
        apply_submit(&a, &in, &reply);
    }
    store_commit(st);
}

static void init(void)
{
    char err[4096];
    cfg = config_load_string(conf, "fuzz.conf", err, sizeof err);
    st = cfg ? store_open(":memory:", err, sizeof err) : NULL;
    codec = codec_new();
    if (!cfg || !st || !codec)
        abort();
    a.store = st;
    a.cfg = cfg;
    seed();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!st)
        init();
    if (size < 1)
        return 0;
    bool as_worker = data[0] & 1;           /* first byte: which endpoint it came from */
    data++, size--;
    codec_frame_t frames[4];
    size_t n = 0, start = 0;
    for (size_t i = 0; i + 1 < size && n < 3; i++)
        if (data[i] == 0x00 && data[i + 1] == 0xff) {
            frames[n++] = (codec_frame_t){data + start, i - start};
            start = i + 2;
            i++;
        }
    frames[n++] = (codec_frame_t){data + start, size - start};
    msg_t msg, reply;
    codec_error_t err;
    if (codec_decode(codec, frames, n, &msg, &err) != 0)
        return 0;
    store_begin(st);
    apply_reset(&a, 1700000100000);
    switch (msg.cmd) {
    case MSG_SUBMIT: apply_submit(&a, &msg, &reply); break;
    case MSG_IMPORT: apply_import(&a, &msg, &reply); break;
    case MSG_FEEDBACK: case MSG_CLOSE: case MSG_REASSIGN: case MSG_CANCEL:
        apply_case_command(&a, "admin", "admin:fuzz", &msg, &reply);
        break;
    case MSG_ACCEPT: case MSG_CONTACTED: case MSG_PROGRESS: case MSG_RESOLVED: case MSG_RETURNED:
        apply_outcome(&a, as_worker ? 1 : 2, "fuzz", &msg, &reply);
        break;
    default: break;
    }
    for (uint64_t c = 1; c <= 4; c++)       /* and let the deadlines of the seeds run */
        apply_timer(&a, c, 1 + (int)(c & 1));
    store_rollback(st);
    return 0;
}
