/*
 * test_codec.c - unit tests for the protocol v1 codec (proto/codec.c).
 *
 * The codec is the broker's only guard against hostile bytes from intake
 * clients and workers, so these tests pin down, with exact msg_err_t codes:
 * every command survives encode -> decode unchanged; every validation rule
 * refuses its input with its code and a reason that names the field; the
 * msgpack-c issue 1013 inputs (huge declared counts) are refused without the
 * input sizing anything; and a refused request still yields its msg_id, so the
 * broker can answer with ERROR.re.
 *
 * The expected codes are those of proto/PROTOCOL.md (sections 3.5, 4 and 9).
 * Bodies are built by encoding a valid fixture of a command (fixture()) and
 * then editing it with msgpack-c (load/set/drop/add), or by packing them by
 * hand where the bytes themselves are the point.
 */
#include "codec.h"
#include "utf8.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

/* ---- shared state (made in group_setup, freed in group_teardown) ------- */

static codec_t *g_dec, *g_enc;
static msgpack_sbuffer g_sb, g_tmp;     /* body being built; scratch for edits */
static msgpack_packer g_pk, g_pkt;
static msg_cmd_t g_cmd;                 /* command the body in g_sb is for */
static msg_t g_msg;                     /* last decoded message */
static codec_error_t g_err;             /* last decode or encode error */
static char g_what[160];               /* the input under test, printed on failure */

/* Name the input under test for failure messages ("" for none). */
static void what(const char *s)
{
    snprintf(g_what, sizeof g_what, "%s", s);
}

static int group_setup(void **state)
{
    (void)state;
    g_dec = codec_new();
    g_enc = codec_new();
    msgpack_sbuffer_init(&g_sb);
    msgpack_sbuffer_init(&g_tmp);
    msgpack_packer_init(&g_pk, &g_sb, msgpack_sbuffer_write);
    msgpack_packer_init(&g_pkt, &g_tmp, msgpack_sbuffer_write);
    return g_dec && g_enc ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    codec_destroy(&g_dec);
    codec_destroy(&g_enc);
    msgpack_sbuffer_destroy(&g_sb);
    msgpack_sbuffer_destroy(&g_tmp);
    return 0;
}

/* ---- fixtures: one valid message per command -------------------------- */

#define SET(m, bit, field, v) ((m)->field = (v), MSG_SET((m), (bit)))
#define ID_MAX UINT64_C(9007199254740991)

static const char DESCRIPTION[] = "和平路与解放路交叉口的路灯不亮，已经三天了，夜里行人很危险。";
static const char ADDRESS[] = "江苏省南京市玄武区和平路12号";

static void fill_case(msg_case_t *c)
{
    SET(c, CF_SERVICE_CODE, service_code, "street_light");
    SET(c, CF_DESCRIPTION, description, DESCRIPTION);
    SET(c, CF_ADDRESS_STRING, address_string, ADDRESS);
    SET(c, CF_FIRST_NAME, first_name, "小明");
    SET(c, CF_LAST_NAME, last_name, "王");
    SET(c, CF_PHONE, phone, "+86 (138) 0013-8000");
    SET(c, CF_EMAIL, email, "wang.xm@example.cn");
    SET(c, CF_MEDIA_URL, media_url, "https://img.example.cn/12345/%E8%B7%AF.jpg?x=1");
    SET(c, CF_REQUESTED_DATETIME, requested_datetime, "2024-05-01T08:30:00.250+08:00");
    SET(c, CF_EXTERNAL_ID, external_id, "12345-20240501-000123");
    SET(c, CF_CHANNEL, channel, "hotline");
    SET(c, CF_GRID_CODE, grid_code, "XW01-HP02-G07");
    SET(c, CF_LAT, lat, 32.0588);
    SET(c, CF_LONG, lon, 118.7965);
    SET(c, CF_PRIORITY, priority, PRIO_URGENT);
}

/* A valid message of `cmd` with every field it can carry. */
static void fixture(msg_t *m, msg_cmd_t cmd)
{
    msg_reset(m, cmd);
    switch (cmd) {
    case MSG_SUBMIT:
        SET(m, MF_MSG_ID, msg_id, "intake-7f3a-0001");
        MSG_SET(m, MF_CASE);
        fill_case(&m->kase);
        break;
    case MSG_SUBMIT_OK:
        SET(m, MF_RE, re, "intake-7f3a-0001");
        SET(m, MF_CASE_ID, case_id, ID_MAX);
        SET(m, MF_DUPLICATE, duplicate, true);
        break;
    case MSG_FEEDBACK:
        SET(m, MF_MSG_ID, msg_id, "fb-1");
        SET(m, MF_CASE_ID, case_id, 42);
        SET(m, MF_RATING, rating, RATING_BASICALLY_SATISFIED);
        SET(m, MF_COMMENT, comment, "处理及时，态度很好");
        break;
    case MSG_CLOSE:
        SET(m, MF_MSG_ID, msg_id, "close-1");
        SET(m, MF_CASE_ID, case_id, 43);
        SET(m, MF_COMMENT, comment, "市民确认已修复");
        break;
    case MSG_REASSIGN:
        SET(m, MF_MSG_ID, msg_id, "re-1");
        SET(m, MF_CASE_ID, case_id, 44);
        SET(m, MF_DEPARTMENT, department, "city.lighting");
        SET(m, MF_COMMENT, comment, "");
        break;
    case MSG_CANCEL:
        SET(m, MF_MSG_ID, msg_id, "cx-1");
        SET(m, MF_CASE_ID, case_id, 45);
        SET(m, MF_CANCEL_REASON, cancel_reason, CANCEL_DUPLICATE);
        SET(m, MF_COMMENT, comment, "与 44 号工单重复");
        break;
    case MSG_REGISTER:
        SET(m, MF_MSG_ID, msg_id, "reg-1");
        SET(m, MF_DEPARTMENT, department, "water_supply");
        SET(m, MF_CAPACITY, capacity, 10000);
        SET(m, MF_WORKER, worker, "自来水公司-值班台 2");
        break;
    case MSG_HEARTBEAT:
        break;
    case MSG_DISCONNECT:
        SET(m, MF_REASON_TEXT, reason_text, "shutting down for upgrade");
        break;
    case MSG_DISPATCH:
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9001);
        SET(m, MF_CASE_ID, case_id, 46);
        SET(m, MF_DEPARTMENT, department, "street_light");
        SET(m, MF_ROLE, role, ROLE_CO);
        SET(m, MF_ATTEMPT, attempt, 3);
        SET(m, MF_RECEIVED_AT, received_at, INT64_C(1714523400000));
        SET(m, MF_CONTACT_DUE, contact_due, INT64_C(1714525200000));
        SET(m, MF_RESOLVE_DUE, resolve_due, INT64_C(1715128200000));
        MSG_SET(m, MF_CASE);
        fill_case(&m->kase);
        break;
    case MSG_ACCEPT:
        SET(m, MF_MSG_ID, msg_id, "acc-1");
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9001);
        break;
    case MSG_CONTACTED:
        SET(m, MF_MSG_ID, msg_id, "con-1");
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9002);
        SET(m, MF_NOTE, note, "已电话联系市民，约定明早上门");
        break;
    case MSG_PROGRESS:
        SET(m, MF_MSG_ID, msg_id, "pro-1");
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9003);
        SET(m, MF_NOTE, note, "配件已到，正在更换");
        break;
    case MSG_RESOLVED:
        SET(m, MF_MSG_ID, msg_id, "res-1");
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9004);
        SET(m, MF_RESULT, result, "fixed");
        SET(m, MF_SUMMARY, summary, "更换路灯镇流器两只，恢复照明");
        break;
    case MSG_RETURNED:
        SET(m, MF_MSG_ID, msg_id, "ret-1");
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9005);
        SET(m, MF_RETURN_REASON, return_reason, RETURN_WRONG_LOCALITY);
        SET(m, MF_NOTE, note, "该路段属于秦淮区");
        break;
    case MSG_ESCALATE:
        SET(m, MF_MSG_ID, msg_id, "esc-1");
        SET(m, MF_ESCALATION_ID, escalation_id, 77);
        SET(m, MF_CASE_ID, case_id, 47);
        SET(m, MF_LEVEL, level, 2);
        SET(m, MF_LADDER, ladder, LADDER_RESOLVE);
        SET(m, MF_TARGET, target, "district.supervisor");
        SET(m, MF_DEPARTMENT, department, "street_light");
        SET(m, MF_GRID_CODE, grid_code, "XW01-HP02-G07");
        SET(m, MF_COMMUNITY, community, "和平社区");
        SET(m, MF_STREET, street, "玄武门街道");
        SET(m, MF_DUE_AT, due_at, INT64_C(1715128200000));
        SET(m, MF_OVERDUE_S, overdue_s, -3600);
        break;
    case MSG_ACK:
        SET(m, MF_RE, re, "acc-1");
        SET(m, MF_CASE_ID, case_id, 46);
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9001);
        SET(m, MF_STATE, state, STATE_ACCEPTED);
        SET(m, MF_HEARTBEAT_MS, heartbeat_ms, 5000);
        break;
    case MSG_ERROR:
        SET(m, MF_RE, re, "reg-1");
        SET(m, MF_CODE, code, ERR_UNKNOWN_DEPARTMENT);
        SET(m, MF_REASON_TEXT, reason_text, "department: 未知部门 water_suply");
        break;
    case MSG_EVENT:
        SET(m, MF_CASE_ID, case_id, 46);
        SET(m, MF_KIND, kind, "escalated");
        SET(m, MF_AT, at, INT64_C(1715131800000));
        SET(m, MF_DEPARTMENT, department, "street_light");
        SET(m, MF_STATE, state, STATE_CONTACTED);
        SET(m, MF_ACTOR, actor, "broker");
        SET(m, MF_NOTE, note, "解决时限已过 1 小时");
        SET(m, MF_ASSIGNMENT_ID, assignment_id, 9001);
        SET(m, MF_LEVEL, level, 2);
        SET(m, MF_LADDER, ladder, LADDER_RESOLVE);
        SET(m, MF_TARGET, target, "district.supervisor");
        SET(m, MF_GRID_CODE, grid_code, "XW01-HP02-G07");
        SET(m, MF_COMMUNITY, community, "和平社区");
        SET(m, MF_STREET, street, "玄武门街道");
        SET(m, MF_OVERDUE_S, overdue_s, 3600);
        break;
    case MSG_IMPORT:
        SET(m, MF_MSG_ID, msg_id, "import-2019-000123");
        MSG_SET(m, MF_CASE);
        fill_case(&m->kase);
        SET(m, MF_STATE, state, STATE_CLOSED);
        SET(m, MF_RECEIVED_AT, received_at, INT64_C(1561939200000));
        SET(m, MF_DEPARTMENT, department, "water");
        SET(m, MF_CONTACTED_AT, contacted_at, INT64_C(1561940100000));
        SET(m, MF_RESOLVED_AT, resolved_at, INT64_C(1562025600000));
        SET(m, MF_CLOSED_AT, closed_at, INT64_C(1562112000000));
        SET(m, MF_RATING, rating, RATING_BASICALLY_SATISFIED);
        break;
    default:
        fail_msg("no fixture for command %d", (int)cmd);
    }
}

/* ---- building bodies --------------------------------------------------- */

static void body(uint32_t entries)
{
    what("");
    msgpack_sbuffer_clear(&g_sb);
    msgpack_pack_map(&g_pk, entries);
}

static void p_raw(const void *bytes, size_t n)
{
    msgpack_sbuffer_write(&g_sb, bytes, n);
}

static void p_strn(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void p_str(const char *s)
{
    p_strn(&g_pk, s, strlen(s));
}

static void kv_str(const char *k, const char *v)
{
    p_str(k);
    p_str(v);
}

/* Body of cmd's fixture, encoded by the codec itself. */
static void load(msg_cmd_t cmd)
{
    msg_t m;
    codec_frame_t f[3];
    what("");
    fixture(&m, cmd);
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), 0);
    msgpack_sbuffer_clear(&g_sb);
    p_raw(f[2].data, f[2].size);
    g_cmd = cmd;
}

/* msgpack_object constructors for set() and add(). */
static msgpack_object o_strn(const char *s, size_t n)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_STR, .via.str = {(uint32_t)n, s}};
}
static msgpack_object o_str(const char *s) { return o_strn(s, strlen(s)); }
static msgpack_object o_uint(uint64_t v)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_POSITIVE_INTEGER, .via.u64 = v};
}
static msgpack_object o_int(int64_t v)
{
    if (v >= 0)
        return o_uint((uint64_t)v);
    return (msgpack_object){.type = MSGPACK_OBJECT_NEGATIVE_INTEGER, .via.i64 = v};
}
static msgpack_object o_dbl(double v)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_FLOAT64, .via.f64 = v};
}
static msgpack_object o_f32(double v)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_FLOAT32, .via.f64 = v};
}
static msgpack_object o_bool(bool v)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_BOOLEAN, .via.boolean = v};
}
static msgpack_object o_nil(void) { return (msgpack_object){.type = MSGPACK_OBJECT_NIL}; }
static msgpack_object o_bin(const void *p, size_t n)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_BIN, .via.bin = {(uint32_t)n, p}};
}
static msgpack_object o_ext(int8_t type, const void *p, size_t n)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_EXT, .via.ext = {type, (uint32_t)n, p}};
}
static msgpack_object o_arr(msgpack_object *items, uint32_t n)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_ARRAY, .via.array = {n, items}};
}
static msgpack_object o_map(msgpack_object_kv *kvs, uint32_t n)
{
    return (msgpack_object){.type = MSGPACK_OBJECT_MAP, .via.map = {n, kvs}};
}

static bool key_is(const msgpack_object *k, const char *name, size_t len)
{
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
           memcmp(k->via.str.ptr, name, len) == 0;
}

typedef enum { ED_SET, ED_DROP, ED_ADD } edit_t;

/* Re-pack map m into g_tmp with one edit at `path` ("phone" or "case.phone"). */
static void repack(const msgpack_object_map *m, const char *path, edit_t op,
                   const msgpack_object *val)
{
    const char *dot = strchr(path, '.');
    size_t len = dot ? (size_t)(dot - path) : strlen(path);
    bool found = false;
    for (uint32_t i = 0; i < m->size; i++)
        found |= key_is(&m->ptr[i].key, path, len);
    assert_true(found || (!dot && op != ED_DROP));
    uint32_t n = m->size;
    if (!dot && op == ED_DROP)
        n--;
    else if (!dot && (op == ED_ADD || !found))
        n++;
    msgpack_pack_map(&g_pkt, n);
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object_kv *kv = &m->ptr[i];
        bool hit = key_is(&kv->key, path, len);
        if (hit && !dot && op == ED_DROP)
            continue;
        msgpack_pack_object(&g_pkt, kv->key);
        if (hit && dot) {
            assert_int_equal(kv->val.type, MSGPACK_OBJECT_MAP);
            repack(&kv->val.via.map, dot + 1, op, val);
        } else if (hit && op == ED_SET) {
            msgpack_pack_object(&g_pkt, *val);
        } else {
            msgpack_pack_object(&g_pkt, kv->val);
        }
    }
    if (!dot && (op == ED_ADD || (op == ED_SET && !found))) {
        p_strn(&g_pkt, path, len);
        msgpack_pack_object(&g_pkt, *val);
    }
}

static void edit(const char *path, edit_t op, const msgpack_object *val)
{
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    int rc = msgpack_unpack_next(&up, g_sb.data, g_sb.size, NULL);
    assert_int_equal(rc, MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(up.data.type, MSGPACK_OBJECT_MAP);
    msgpack_sbuffer_clear(&g_tmp);
    repack(&up.data.via.map, path, op, val);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer t = g_sb;   /* the packers point at the variables, not the buffers */
    g_sb = g_tmp;
    g_tmp = t;
}

/* Replace (or add) the value at path. */
static void set(const char *path, msgpack_object val) { edit(path, ED_SET, &val); }
/* Remove the entry at path. */
static void drop(const char *path) { edit(path, ED_DROP, NULL); }
/* Append another entry with this key, even if one exists (duplicates, ordering). */
static void add(const char *path, msgpack_object val) { edit(path, ED_ADD, &val); }

/* ---- decoding and expectations ----------------------------------------- */

static codec_frame_t frame(const char *s)
{
    return (codec_frame_t){s, strlen(s)};
}

static int decode_raw(const char *cmd, const void *data, size_t size)
{
    codec_frame_t f[3] = {frame(MSG_SIGNATURE), frame(cmd), {data, size}};
    return codec_decode(g_dec, f, 3, &g_msg, &g_err);
}

static int decode_cur(void)
{
    return decode_raw(msg_cmd_name(g_cmd), g_sb.data ? g_sb.data : "", g_sb.size);
}

/* The decode that returned rc refused with exactly `code`, a reason, and the reason names field. */
static void check_err(int rc, msg_err_t code, const char *field)
{
    if (g_err.code != code || (field && !strstr(g_err.reason, field)))
        print_error("input: %s\n  got %s (%d) \"%s\"\n  want %s (%d) naming \"%s\"\n",
                    g_what, msg_err_name(g_err.code), (int)g_err.code,
                    g_err.reason, msg_err_name(code), (int)code, field ? field : "");
    assert_int_equal(g_err.code, code);
    assert_int_not_equal(rc, 0);
    assert_true(g_err.reason[0] != '\0');
    if (field)
        assert_non_null(strstr(g_err.reason, field));
}

static void expect_err(msg_err_t code, const char *field)
{
    check_err(decode_cur(), code, field);
}

static void expect_ok(void)
{
    int rc = decode_cur();
    if (rc != 0)
        print_error("input: %s\n  refused: %s \"%s\"\n", g_what,
                    msg_err_name(g_err.code), g_err.reason);
    assert_int_equal(rc, 0);
    assert_int_equal(g_err.code, MSG_OK);
    assert_int_equal(g_msg.cmd, g_cmd);
}

/* Each of bad[] (NULL-terminated) at path is refused with code, naming the field. */
static void reject_each(msg_cmd_t cmd, const char *path, const char *const *bad,
                        msg_err_t code)
{
    for (; *bad; bad++) {
        load(cmd);
        set(path, o_str(*bad));
        what(*bad);
        expect_err(code, path);
    }
    what("");
}

/* Each of good[] at path is accepted and decodes to itself. */
static void accept_each(msg_cmd_t cmd, const char *path, const char *const *good)
{
    for (; *good; good++) {
        load(cmd);
        set(path, o_str(*good));
        what(*good);
        expect_ok();
    }
    what("");
}

/* ---- round trips -------------------------------------------------------- */

/* Encode cmd's fixture, check the frames, decode it into g_msg and compare. */
static void roundtrip(msg_cmd_t cmd)
{
    msg_t in;
    codec_frame_t f[3];
    fixture(&in, cmd);
    assert_int_equal(codec_encode(g_enc, &in, f, &g_err), 0);
    assert_int_equal(f[0].size, strlen(MSG_SIGNATURE));
    assert_memory_equal(f[0].data, MSG_SIGNATURE, f[0].size);
    assert_int_equal(f[1].size, strlen(msg_cmd_name(cmd)));
    assert_memory_equal(f[1].data, msg_cmd_name(cmd), f[1].size);
    int rc = codec_decode(g_dec, f, 3, &g_msg, &g_err);
    if (rc)
        print_error("%s: %s\n", msg_cmd_name(cmd), g_err.reason);
    assert_int_equal(rc, 0);
    assert_int_equal(g_msg.cmd, cmd);
    assert_int_equal(g_msg.present, in.present);
    assert_int_equal(g_msg.kase.present, in.kase.present);
    assert_true(codec_equal(&in, &g_msg));
    assert_true(codec_equal(&g_msg, &in));
}

static void check_full_case(const msg_case_t *c)
{
    assert_string_equal(c->service_code, "street_light");
    assert_string_equal(c->description, DESCRIPTION);
    assert_string_equal(c->address_string, ADDRESS);
    assert_string_equal(c->first_name, "小明");
    assert_string_equal(c->last_name, "王");
    assert_string_equal(c->phone, "+86 (138) 0013-8000");
    assert_string_equal(c->email, "wang.xm@example.cn");
    assert_string_equal(c->media_url, "https://img.example.cn/12345/%E8%B7%AF.jpg?x=1");
    assert_string_equal(c->requested_datetime, "2024-05-01T08:30:00.250+08:00");
    assert_string_equal(c->external_id, "12345-20240501-000123");
    assert_string_equal(c->channel, "hotline");
    assert_string_equal(c->grid_code, "XW01-HP02-G07");
    assert_true(c->lat == 32.0588);
    assert_true(c->lon == 118.7965);
    assert_int_equal(c->priority, PRIO_URGENT);
    assert_int_equal(c->present, (UINT64_C(1) << CF_COUNT) - 1);
}

static void rt_submit(void **state)
{
    (void)state;
    roundtrip(MSG_SUBMIT);
    assert_string_equal(g_msg.msg_id, "intake-7f3a-0001");
    assert_true(MSG_HAS(&g_msg, MF_CASE));
    check_full_case(&g_msg.kase);
}

static void rt_submit_ok(void **state)
{
    (void)state;
    roundtrip(MSG_SUBMIT_OK);
    assert_string_equal(g_msg.re, "intake-7f3a-0001");
    assert_true(g_msg.case_id == ID_MAX);   /* 2^53-1 survives as uint64 */
    assert_true(g_msg.duplicate);
}

static void rt_feedback(void **state)
{
    (void)state;
    roundtrip(MSG_FEEDBACK);
    assert_int_equal(g_msg.case_id, 42);
    assert_int_equal(g_msg.rating, RATING_BASICALLY_SATISFIED);
    assert_string_equal(g_msg.comment, "处理及时，态度很好");
}

static void rt_close(void **state)
{
    (void)state;
    roundtrip(MSG_CLOSE);
    assert_string_equal(g_msg.msg_id, "close-1");
    assert_int_equal(g_msg.case_id, 43);
    assert_string_equal(g_msg.comment, "市民确认已修复");
}

static void rt_reassign(void **state)
{
    (void)state;
    roundtrip(MSG_REASSIGN);
    assert_string_equal(g_msg.department, "city.lighting");
    assert_true(MSG_HAS(&g_msg, MF_COMMENT));   /* an empty optional string is still present */
    assert_string_equal(g_msg.comment, "");
}

static void rt_cancel(void **state)
{
    (void)state;
    roundtrip(MSG_CANCEL);
    assert_int_equal(g_msg.cancel_reason, CANCEL_DUPLICATE);
    assert_int_equal(g_msg.case_id, 45);
}

static void rt_register(void **state)
{
    (void)state;
    roundtrip(MSG_REGISTER);
    assert_string_equal(g_msg.department, "water_supply");
    assert_int_equal(g_msg.capacity, 10000);
    assert_string_equal(g_msg.worker, "自来水公司-值班台 2");
}

static void rt_heartbeat(void **state)
{
    (void)state;
    roundtrip(MSG_HEARTBEAT);
    assert_int_equal(g_msg.present, 0);
}

static void rt_disconnect(void **state)
{
    (void)state;
    roundtrip(MSG_DISCONNECT);
    assert_string_equal(g_msg.reason_text, "shutting down for upgrade");
}

static void rt_dispatch(void **state)
{
    (void)state;
    roundtrip(MSG_DISPATCH);
    assert_int_equal(g_msg.assignment_id, 9001);
    assert_int_equal(g_msg.role, ROLE_CO);
    assert_int_equal(g_msg.attempt, 3);
    assert_true(g_msg.received_at == INT64_C(1714523400000));
    assert_true(g_msg.contact_due == INT64_C(1714525200000));
    assert_true(g_msg.resolve_due == INT64_C(1715128200000));
    check_full_case(&g_msg.kase);
}

static void rt_accept(void **state)
{
    (void)state;
    roundtrip(MSG_ACCEPT);
    assert_string_equal(g_msg.msg_id, "acc-1");
    assert_int_equal(g_msg.assignment_id, 9001);
}

static void rt_contacted(void **state)
{
    (void)state;
    roundtrip(MSG_CONTACTED);
    assert_string_equal(g_msg.note, "已电话联系市民，约定明早上门");
}

static void rt_progress(void **state)
{
    (void)state;
    roundtrip(MSG_PROGRESS);
    assert_int_equal(g_msg.assignment_id, 9003);
    assert_string_equal(g_msg.note, "配件已到，正在更换");
}

static void rt_resolved(void **state)
{
    (void)state;
    roundtrip(MSG_RESOLVED);
    assert_string_equal(g_msg.result, "fixed");
    assert_string_equal(g_msg.summary, "更换路灯镇流器两只，恢复照明");
}

static void rt_returned(void **state)
{
    (void)state;
    roundtrip(MSG_RETURNED);
    assert_int_equal(g_msg.return_reason, RETURN_WRONG_LOCALITY);
    assert_string_equal(g_msg.note, "该路段属于秦淮区");
}

static void rt_escalate(void **state)
{
    (void)state;
    roundtrip(MSG_ESCALATE);
    assert_int_equal(g_msg.escalation_id, 77);
    assert_int_equal(g_msg.level, 2);
    assert_int_equal(g_msg.ladder, LADDER_RESOLVE);
    assert_string_equal(g_msg.target, "district.supervisor");
    assert_string_equal(g_msg.grid_code, "XW01-HP02-G07");
    assert_string_equal(g_msg.community, "和平社区");
    assert_string_equal(g_msg.street, "玄武门街道");
    assert_true(g_msg.overdue_s == -3600);
}

static void rt_ack(void **state)
{
    (void)state;
    roundtrip(MSG_ACK);
    assert_string_equal(g_msg.re, "acc-1");
    assert_int_equal(g_msg.state, STATE_ACCEPTED);
    assert_int_equal(g_msg.heartbeat_ms, 5000);
}

static void rt_error(void **state)
{
    (void)state;
    roundtrip(MSG_ERROR);
    assert_int_equal(g_msg.code, ERR_UNKNOWN_DEPARTMENT);
    assert_string_equal(g_msg.reason_text, "department: 未知部门 water_suply");
}

static void rt_import(void **state)
{
    (void)state;
    roundtrip(MSG_IMPORT);
    assert_int_equal(g_msg.state, STATE_CLOSED);
    assert_true(g_msg.closed_at == INT64_C(1562112000000));
    assert_int_equal(g_msg.rating, RATING_BASICALLY_SATISFIED);
}

static void rt_event(void **state)
{
    (void)state;
    roundtrip(MSG_EVENT);
    assert_string_equal(g_msg.kind, "escalated");
    assert_true(g_msg.at == INT64_C(1715131800000));
    assert_string_equal(g_msg.actor, "broker");
    assert_int_equal(g_msg.state, STATE_CONTACTED);
    assert_true(g_msg.overdue_s == 3600);
}

/* Guard: a command added to msg_cmd_t without a fixture fails here. */
static void rt_every_command_has_fixture(void **state)
{
    (void)state;
    for (int c = MSG_NONE + 1; c < MSG_CMD_COUNT; c++)
        roundtrip((msg_cmd_t)c);
}

/* codec_equal, which every round trip relies on, does see a changed value. */
static void equal_sees_differences(void **state)
{
    (void)state;
    msg_t a, b;
    fixture(&a, MSG_SUBMIT);
    fixture(&b, MSG_SUBMIT);
    assert_true(codec_equal(&a, &b));
    b.kase.lat = 32.0589;
    assert_false(codec_equal(&a, &b));
    fixture(&b, MSG_SUBMIT);
    b.kase.description = "路灯不亮";
    assert_false(codec_equal(&a, &b));
    fixture(&b, MSG_SUBMIT);
    b.kase.present &= ~(UINT64_C(1) << CF_PHONE);
    assert_false(codec_equal(&a, &b));
    fixture(&b, MSG_ESCALATE);
    fixture(&a, MSG_ESCALATE);
    b.overdue_s = 3600;
    assert_false(codec_equal(&a, &b));
}

/* A decode resets the message: nothing from the previous one leaks into it. */
static void decode_resets_message(void **state)
{
    (void)state;
    roundtrip(MSG_SUBMIT);
    load(MSG_HEARTBEAT);
    expect_ok();
    assert_int_equal(g_msg.present, 0);
    assert_int_equal(g_msg.kase.present, 0);
    assert_null(g_msg.msg_id);
}

/* ---- frames ------------------------------------------------------------- */

static void frames_none(void **state)
{
    (void)state;
    check_err(codec_decode(g_dec, NULL, 0, &g_msg, &g_err), ERR_MALFORMED, NULL);
}

static void frames_wrong_count(void **state)
{
    (void)state;
    load(MSG_HEARTBEAT);
    codec_frame_t f[4] = {frame(MSG_SIGNATURE), frame("HEARTBEAT"), {g_sb.data, g_sb.size},
                          {g_sb.data, g_sb.size}};
    for (size_t n = 1; n <= 4; n++) {
        if (n == 3)
            continue;
        check_err(codec_decode(g_dec, f, n, &g_msg, &g_err), ERR_MALFORMED, "frames");
    }
    assert_int_equal(codec_decode(g_dec, f, 3, &g_msg, &g_err), 0);
}

static void frames_bad_signature(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "MINQING", "MINQING1", "minqing/1", "ZMTP/3.0",
                                      "HTTP/1.1 200", NULL};
    load(MSG_HEARTBEAT);
    for (const char *const *s = bad; *s; s++) {
        codec_frame_t f[3] = {frame(*s), frame("HEARTBEAT"), {g_sb.data, g_sb.size}};
        what(*s);
        check_err(codec_decode(g_dec, f, 3, &g_msg, &g_err), ERR_MALFORMED, NULL);
    }
    what("");
}

static void frames_bad_version(void **state)
{
    (void)state;
    static const char *const bad[] = {"MINQING/2", "MINQING/0", "MINQING/10", "MINQING/1 ",
                                      "MINQING/", NULL};
    load(MSG_HEARTBEAT);
    for (const char *const *s = bad; *s; s++) {
        codec_frame_t f[3] = {frame(*s), frame("HEARTBEAT"), {g_sb.data, g_sb.size}};
        what(*s);
        check_err(codec_decode(g_dec, f, 3, &g_msg, &g_err), ERR_BAD_VERSION, "MINQING/1");
    }
    what("");
}

static void frames_unknown_command(void **state)
{
    (void)state;
    static const char *const bad[] = {"", "submit", "SUBMITX", "SUBMIT ", "SUBMIT_", "NONE",
                                      "HEARTBEAT\n", NULL};
    load(MSG_HEARTBEAT);
    for (const char *const *s = bad; *s; s++) {
        what(*s);
        check_err(decode_raw(*s, g_sb.data, g_sb.size), ERR_UNKNOWN_COMMAND, "command");
    }
    what("");
    /* the command frame's length counts: "HEARTBEAT\0" is not HEARTBEAT */
    codec_frame_t f[3] = {frame(MSG_SIGNATURE), {"HEARTBEAT", 10}, {g_sb.data, g_sb.size}};
    check_err(codec_decode(g_dec, f, 3, &g_msg, &g_err), ERR_UNKNOWN_COMMAND, NULL);
}

/* ---- body structure ----------------------------------------------------- */

static void body_empty(void **state)
{
    (void)state;
    check_err(decode_raw("HEARTBEAT", "", 0), ERR_MALFORMED, "body");
}

/* PROTOCOL.md 3.5 and 9: a body of another msgpack type is 104 WRONG_TYPE
 * (msg.h's comment on ERR_MALFORMED says otherwise; reported). */
static void body_not_a_map(void **state)
{
    (void)state;
    static const struct { const char *bytes; size_t n; } bad[] = {
        {"\x01", 1}, {"\x90", 1}, {"\xa3" "abc", 4}, {"\xc0", 1}, {"\xc3", 1},
        {"\xc4\x01\x80", 3}, {"\xcb\0\0\0\0\0\0\0\0", 9},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        msgpack_sbuffer_clear(&g_sb);
        p_raw(bad[i].bytes, bad[i].n);
        g_cmd = MSG_HEARTBEAT;
        expect_err(ERR_WRONG_TYPE, "body");
    }
}

/* PROTOCOL.md 3.5: "100 if it is empty or not MessagePack". */
static void body_not_msgpack(void **state)
{
    (void)state;
    msgpack_sbuffer_clear(&g_sb);
    p_raw("\xc1", 1);                  /* the never-used format byte */
    g_cmd = MSG_HEARTBEAT;
    expect_err(ERR_MALFORMED, "body");
}

/* Every strict prefix of a valid body is refused as malformed. */
static void body_truncated(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    static char full[4096];
    size_t size = g_sb.size;
    assert_true(size <= sizeof full);
    memcpy(full, g_sb.data, size);
    for (size_t n = 0; n < size; n++) {
        snprintf(g_what, sizeof g_what, "first %zu of %zu bytes", n, size);
        check_err(decode_raw("SUBMIT", full, n), ERR_MALFORMED, NULL);
    }
    what("");
    assert_int_equal(decode_raw("SUBMIT", full, size), 0);
}

static void unknown_value_invalid_byte(void **state)
{
    (void)state;
    body(1);
    p_str("x");
    p_raw("\xc1", 1);
    g_cmd = MSG_HEARTBEAT;
    expect_err(ERR_MALFORMED, NULL);
}

/* A bin of `n` bytes under an unknown key of HEARTBEAT: a body of n + 8 bytes. */
static void heartbeat_padded_to(size_t size)
{
    static char zeros[MSG_MAX_BODY];
    load(MSG_HEARTBEAT);
    set("pad", o_bin(zeros, size - 8));
    assert_int_equal(g_sb.size, size);
}

static void body_too_large(void **state)
{
    (void)state;
    heartbeat_padded_to(MSG_MAX_BODY + 1);
    expect_err(ERR_TOO_LARGE, "body");
}

static void body_max_size_accepted(void **state)
{
    (void)state;
    heartbeat_padded_to(MSG_MAX_BODY);
    expect_ok();
}

static void body_trailing_bytes(void **state)
{
    (void)state;
    load(MSG_ACCEPT);
    p_raw("\xc0", 1);
    expect_err(ERR_TRAILING_BYTES, "body");
    load(MSG_ACCEPT);
    char copy[256];
    size_t n = g_sb.size;
    assert_true(n <= sizeof copy);
    memcpy(copy, g_sb.data, n);
    p_raw(copy, n);                   /* the same map twice */
    expect_err(ERR_TRAILING_BYTES, "body");
}

static void duplicate_key_top(void **state)
{
    (void)state;
    load(MSG_REGISTER);
    add("capacity", o_uint(5));
    expect_err(ERR_DUPLICATE_KEY, "capacity");
    load(MSG_ACCEPT);
    add("msg_id", o_str("acc-1"));    /* even with the same value */
    expect_err(ERR_DUPLICATE_KEY, "msg_id");
}

static void duplicate_key_case(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    add("case.phone", o_str("12345"));
    expect_err(ERR_DUPLICATE_KEY, "case.phone");
    load(MSG_SUBMIT);
    add("case", o_map(NULL, 0));
    expect_err(ERR_DUPLICATE_KEY, "case");
}

/* A key given twice is refused even when its first value is nil. */
static void duplicate_key_after_nil(void **state)
{
    (void)state;
    load(MSG_CLOSE);
    set("comment", o_nil());
    add("comment", o_str("second"));
    expect_err(ERR_DUPLICATE_KEY, "comment");
}

static void key_not_a_string(void **state)
{
    (void)state;
    body(1);
    g_cmd = MSG_HEARTBEAT;
    msgpack_pack_int(&g_pk, 1);
    msgpack_pack_int(&g_pk, 2);
    expect_err(ERR_WRONG_TYPE, "key");
}

/* ---- required fields ---------------------------------------------------- */

/* Optional top-level keys of each command (" a b "); every other key is required. */
static const char *const optional_keys[MSG_CMD_COUNT] = {
    [MSG_FEEDBACK] = " comment ",   [MSG_CLOSE] = " comment ",
    [MSG_REASSIGN] = " comment ",   [MSG_CANCEL] = " comment ",
    [MSG_REGISTER] = " worker ",    [MSG_DISCONNECT] = " reason ",
    [MSG_DISPATCH] = " resolve_due ", [MSG_CONTACTED] = " note ",
    [MSG_RETURNED] = " note ",      [MSG_ERROR] = " re ",
    [MSG_ACK] = " case_id assignment_id state heartbeat_ms ",
    [MSG_EVENT] = " department state actor note assignment_id level ladder target grid_code "
                  "community street overdue_s ",
    [MSG_IMPORT] = " department contacted_at resolved_at closed_at rating ",
};
static const char CASE_OPTIONAL[] = " address_string first_name last_name phone email "
                                    "media_url requested_datetime lat long priority ";

static bool listed(const char *list, const char *key)
{
    char k[80];
    snprintf(k, sizeof k, " %s ", key);
    return list && strstr(list, k);
}

/* Drop (nil == false) or nil out (nil == true) each key of cmd's fixture in
 * turn, or of its case (in_case): an optional key is then absent, a required
 * one missing. The keys are those the codec encodes from the full fixture. */
static void each_key_absent(msg_cmd_t cmd, bool in_case, const char *optional, bool nil)
{
    static char copy[4096];
    msg_t m;
    codec_frame_t f[3];
    fixture(&m, cmd);
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), 0);
    assert_true(f[2].size <= sizeof copy);
    memcpy(copy, f[2].data, f[2].size);    /* unpacked strings point into it */
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    assert_int_equal(msgpack_unpack_next(&up, copy, f[2].size, NULL), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object_map *top = &up.data.via.map, *map = top;
    for (uint32_t i = 0; in_case && i < top->size; i++)
        if (key_is(&top->ptr[i].key, "case", 4))
            map = &top->ptr[i].val.via.map;
    assert_true(!in_case || map != top);
    for (uint32_t i = 0; i < map->size; i++) {
        char key[64], path[80];
        const msgpack_object_str *k = &map->ptr[i].key.via.str;
        snprintf(key, sizeof key, "%.*s", (int)k->size, k->ptr);
        snprintf(path, sizeof path, "%s%s", in_case ? "case." : "", key);
        load(cmd);
        if (nil)
            set(path, o_nil());
        else
            drop(path);
        what(path);
        if (listed(optional, key)) {
            expect_ok();
            /* exactly that one field is gone, nothing else changed */
            assert_int_equal(g_msg.present & ~m.present, 0);
            assert_int_equal(g_msg.kase.present & ~m.kase.present, 0);
            assert_int_equal(__builtin_popcountll(m.present & ~g_msg.present) +
                             __builtin_popcountll(m.kase.present & ~g_msg.kase.present), 1);
        } else {
            expect_err(ERR_MISSING_FIELD, path);
        }
    }
    what("");
    msgpack_unpacked_destroy(&up);
}

static void missing_required_top(void **state)
{
    (void)state;
    load(MSG_REGISTER);
    drop("capacity");
    expect_err(ERR_MISSING_FIELD, "capacity");
}

static void missing_required_case(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    drop("case.grid_code");
    expect_err(ERR_MISSING_FIELD, "case.grid_code");
    load(MSG_SUBMIT);
    drop("case");
    expect_err(ERR_MISSING_FIELD, "case");
}

static void missing_each_field_every_command(void **state)
{
    (void)state;
    for (int c = MSG_NONE + 1; c < MSG_CMD_COUNT; c++)
        each_key_absent((msg_cmd_t)c, false, optional_keys[c], false);
    each_key_absent(MSG_SUBMIT, true, CASE_OPTIONAL, false);
    each_key_absent(MSG_DISPATCH, true, CASE_OPTIONAL, false);
}

static void nil_optional_is_absent(void **state)
{
    (void)state;
    load(MSG_CLOSE);
    set("comment", o_nil());
    expect_ok();
    assert_false(MSG_HAS(&g_msg, MF_COMMENT));
    assert_null(g_msg.comment);
    load(MSG_SUBMIT);
    set("case.phone", o_nil());
    expect_ok();
    assert_false(MSG_HAS(&g_msg.kase, CF_PHONE));
    assert_null(g_msg.kase.phone);
}

static void nil_required_is_missing(void **state)
{
    (void)state;
    load(MSG_FEEDBACK);
    set("rating", o_nil());
    expect_err(ERR_MISSING_FIELD, "rating");
    load(MSG_SUBMIT);
    set("case", o_nil());
    expect_err(ERR_MISSING_FIELD, "case");
}

static void nil_each_field_every_command(void **state)
{
    (void)state;
    for (int c = MSG_NONE + 1; c < MSG_CMD_COUNT; c++)
        each_key_absent((msg_cmd_t)c, false, optional_keys[c], true);
    each_key_absent(MSG_SUBMIT, true, CASE_OPTIONAL, true);
}

/* ---- wrong types -------------------------------------------------------- */

static void type_string_given_int(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    set("case.description", o_int(5));
    expect_err(ERR_WRONG_TYPE, "case.description");
    load(MSG_ACCEPT);
    set("msg_id", o_bin("acc-1", 5));       /* bin is not str */
    expect_err(ERR_WRONG_TYPE, "msg_id");
}

static void type_uint_given_string(void **state)
{
    (void)state;
    load(MSG_CLOSE);
    set("case_id", o_str("43"));
    expect_err(ERR_WRONG_TYPE, "case_id");
    load(MSG_REGISTER);
    set("capacity", o_dbl(5.0));            /* a float is not an integer */
    expect_err(ERR_WRONG_TYPE, "capacity");
}

/* A negative integer where a uint is wanted is out of range (msg.h: INVALID_VALUE). */
static void type_uint_given_negative(void **state)
{
    (void)state;
    load(MSG_REGISTER);
    set("capacity", o_int(-1));
    expect_err(ERR_INVALID_VALUE, "capacity");
    load(MSG_CLOSE);
    set("case_id", o_int(INT64_MIN));
    expect_err(ERR_INVALID_VALUE, "case_id");
}

static void type_int_given_string(void **state)
{
    (void)state;
    load(MSG_ESCALATE);
    set("overdue_s", o_str("-3600"));
    expect_err(ERR_WRONG_TYPE, "overdue_s");
}

static void type_bool_given_int(void **state)
{
    (void)state;
    load(MSG_SUBMIT_OK);
    set("duplicate", o_int(1));
    expect_err(ERR_WRONG_TYPE, "duplicate");
    load(MSG_SUBMIT_OK);
    set("duplicate", o_str("true"));
    expect_err(ERR_WRONG_TYPE, "duplicate");
}

static void type_enum_given_int(void **state)
{
    (void)state;
    load(MSG_FEEDBACK);
    set("rating", o_int(1));
    expect_err(ERR_WRONG_TYPE, "rating");
    load(MSG_SUBMIT);
    set("case.priority", o_int(3));
    expect_err(ERR_WRONG_TYPE, "case.priority");
}

static void type_case_given_array(void **state)
{
    (void)state;
    msgpack_object items[1] = {o_str("street_light")};
    load(MSG_SUBMIT);
    set("case", o_arr(items, 1));
    expect_err(ERR_WRONG_TYPE, "case");
    load(MSG_DISPATCH);
    set("case", o_str("{}"));
    expect_err(ERR_WRONG_TYPE, "case");
}

static void type_float_given_string(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    set("case.lat", o_str("32.05"));
    expect_err(ERR_WRONG_TYPE, "case.lat");
    load(MSG_SUBMIT);
    set("case.long", o_bool(true));
    expect_err(ERR_WRONG_TYPE, "case.long");
}

/* lat/long also take float32 and integers. */
static void float_accepts_f32_and_int(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    set("case.lat", o_f32(32.5));
    set("case.long", o_int(-118));
    expect_ok();
    assert_true(g_msg.kase.lat == 32.5);
    assert_true(g_msg.kase.lon == -118.0);
}

/* ---- strings: length, UTF-8, NUL ---------------------------------------- */

#define CJK "路"        /* U+8DEF: 3 bytes, 1 character */
static char g_cjk[4001 * 3];

static void fill_cjk(void)
{
    for (size_t i = 0; i < 4001; i++)
        memcpy(g_cjk + 3 * i, CJK, 3);
}

static void str_4000_cjk_accepted(void **state)
{
    (void)state;
    fill_cjk();
    load(MSG_SUBMIT);
    set("case.description", o_strn(g_cjk, 4000 * 3));
    expect_ok();
    assert_int_equal(strlen(g_msg.kase.description), 12000);
}

static void str_4001_cjk_too_long(void **state)
{
    (void)state;
    fill_cjk();
    load(MSG_SUBMIT);
    set("case.description", o_strn(g_cjk, 4001 * 3));
    expect_err(ERR_TOO_LONG, "case.description");
}

static void str_too_long_ascii(void **state)
{
    (void)state;
    char id[66];
    memset(id, 'a', 65);
    id[65] = '\0';
    load(MSG_ACCEPT);
    set("msg_id", o_str(id));
    expect_err(ERR_TOO_LONG, "msg_id");
    id[64] = '\0';
    load(MSG_ACCEPT);
    set("msg_id", o_str(id));
    expect_ok();
}

static void str_too_short(void **state)
{
    (void)state;
    load(MSG_ACCEPT);
    set("msg_id", o_str(""));
    expect_err(ERR_INVALID_VALUE, "msg_id");
    load(MSG_SUBMIT);
    set("case.description", o_str(""));
    expect_err(ERR_INVALID_VALUE, "case.description");
}

static void utf8_reject(const char *path, const char *bytes, size_t n, const char *desc)
{
    load(MSG_SUBMIT);
    set(path, o_strn(bytes, n));
    what(desc);
    expect_err(ERR_INVALID_UTF8, path);
    what("");
}

static void utf8_overlong(void **state)
{
    (void)state;
    utf8_reject("case.description", "a\xc0\xaf", 3, "2-byte overlong '/'");
    utf8_reject("case.description", "\xe0\x80\xaf", 3, "3-byte overlong '/'");
    utf8_reject("case.description", "\xf0\x80\x80\xaf", 4, "4-byte overlong '/'");
}

/* utf8_cut keeps whole characters, and stops at a sequence the string's end
 * cuts short instead of reading past its NUL (a heap string of exactly its
 * size, so that ASan sees a read past it). */
static void utf8_cut_stops_at_the_end(void **state)
{
    (void)state;
    char out[16];
    utf8_cut(out, 6, "ab水务");         /* 水 fits in 5 bytes + NUL, 务 does not */
    assert_string_equal(out, "ab水");
    char *cut_short = malloc(4);
    assert_non_null(cut_short);
    memcpy(cut_short, "ab\xe6", 4);     /* the lead byte of 水 and then the end */
    utf8_cut(out, sizeof out, cut_short);
    assert_string_equal(out, "ab");
    free(cut_short);
}

static void utf8_surrogate(void **state)
{
    (void)state;
    utf8_reject("case.description", "\xed\xa0\x80", 3, "U+D800");
    utf8_reject("case.address_string", "x\xed\xbf\xbfy", 5, "U+DFFF");
}

static void utf8_truncated(void **state)
{
    (void)state;
    utf8_reject("case.description", "\xe8\xb7", 2, "2 of 3 bytes at the end");
    utf8_reject("case.description", "\xe8\xb7" "a", 3, "2 of 3 bytes then ASCII");
}

static void utf8_stray_continuation(void **state)
{
    (void)state;
    utf8_reject("case.description", "\x80", 1, "lone continuation");
    utf8_reject("case.first_name", "\xe8\xb7\xaf\xaf", 4, "continuation after a character");
}

static void utf8_out_of_range(void **state)
{
    (void)state;
    utf8_reject("case.description", "\xf4\x90\x80\x80", 4, "U+110000");
    utf8_reject("case.description", "\xff", 1, "0xff");
}

static void utf8_in_key(void **state)
{
    (void)state;
    load(MSG_HEARTBEAT);
    set("\xed\xa0\x80", o_int(1));
    expect_err(ERR_INVALID_UTF8, "key");
}

static void str_embedded_nul(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    set("case.description", o_strn("路灯\0不亮", 13));
    expect_err(ERR_INVALID_VALUE, "case.description");
    load(MSG_ACCEPT);
    set("msg_id", o_strn("a\0", 2));
    expect_err(ERR_INVALID_VALUE, "msg_id");
}

/* ---- string formats ----------------------------------------------------- */

static void fmt_token(void **state)
{
    (void)state;
    static const char *const bad[] = {"street light", "路灯", "a/b", "a:b", "a\tb", "", NULL};
    static const char *const good[] = {"street_light", "city.road-3", "A", NULL};
    reject_each(MSG_SUBMIT, "case.service_code", bad, ERR_INVALID_VALUE);
    reject_each(MSG_REGISTER, "department", bad, ERR_INVALID_VALUE);
    reject_each(MSG_RESOLVED, "result", bad, ERR_INVALID_VALUE);
    accept_each(MSG_SUBMIT, "case.channel", good);
}

static void fmt_msg_id(void **state)
{
    (void)state;
    static const char *const bad[] = {"a b", "tab\there", "消息-1", "id\x7f", "new\nline", NULL};
    static const char *const good[] = {"!", "~{}[]", "a-b_c.d:e/f", NULL};
    reject_each(MSG_ACCEPT, "msg_id", bad, ERR_INVALID_VALUE);
    reject_each(MSG_ACK, "re", bad, ERR_INVALID_VALUE);
    reject_each(MSG_SUBMIT, "case.external_id", bad, ERR_INVALID_VALUE);
    accept_each(MSG_ACCEPT, "msg_id", good);
}

static void fmt_grid_code(void **state)
{
    (void)state;
    static const char *const bad[] = {"XW01-HP02", "XW01-HP02-G07-1", "-HP02-G07", "XW01--G07",
                                      "XW01-HP02-", "XW.1-HP02-G07", "XW 1-HP02-G07",
                                      "玄武-和平-G07", "a-b", NULL};
    static const char *const good[] = {"a-b-c", "XW_01-HP02-G07", "1-2-3", NULL};
    reject_each(MSG_SUBMIT, "case.grid_code", bad, ERR_INVALID_VALUE);
    reject_each(MSG_ESCALATE, "grid_code", bad, ERR_INVALID_VALUE);
    accept_each(MSG_SUBMIT, "case.grid_code", good);
}

static void fmt_phone(void **state)
{
    (void)state;
    static const char *const bad[] = {"abc", "12", "1-2", "138x0013", "+86 138.0013",
                                      "１３８００１３８０００", NULL};
    static const char *const good[] = {"110", "12345", "+86 (025) 8888-1234", NULL};
    reject_each(MSG_SUBMIT, "case.phone", bad, ERR_INVALID_VALUE);
    accept_each(MSG_SUBMIT, "case.phone", good);
}

static void fmt_email(void **state)
{
    (void)state;
    static const char *const bad[] = {"no-at-sign", "a@b@c", "@example.cn", "wang@",
                                      "wang xm@example.cn", "王@example.cn", NULL};
    static const char *const good[] = {"a@b", "wang.xm+12345@gov.example.cn", NULL};
    reject_each(MSG_SUBMIT, "case.email", bad, ERR_INVALID_VALUE);
    accept_each(MSG_SUBMIT, "case.email", good);
}

static void fmt_media_url(void **state)
{
    (void)state;
    static const char *const bad[] = {"ftp://example.cn/a.jpg", "http:/x.cn/a", "https://",
                                      "https://a b.cn/", "//example.cn/a",
                                      "javascript:alert(1)", NULL};
    static const char *const good[] = {"http://x", "https://example.cn/a.jpg?x=1#y", NULL};
    reject_each(MSG_SUBMIT, "case.media_url", bad, ERR_INVALID_VALUE);
    accept_each(MSG_SUBMIT, "case.media_url", good);
}

static void fmt_datetime(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "2024-05-01T08:30:00",              /* no zone */
        "2024-05-01T08:30:00.123",          /* no zone, with a fraction */
        "2024-05-01T08:30:00+0800",         /* zone without ':' */
        "2024-05-01T08:30:00+08",
        "2024-13-01T08:30:00Z",             /* month 13 */
        "2024-05-32T08:30:00Z",
        "2024-05-01T24:00:00Z",
        "2024-05-01T08:60:00Z",
        "2024-05-01T08:30:00.Z",            /* empty fraction */
        "2024-05-01T08:30:00.1234567890Z",  /* fraction over 9 digits */
        "2024-05-01T08:30:00+24:00",
        "2024/05/01T08:30:00Z",
        "2024-05-01t08:30:00Z",
        "2024-05-01T08:30:00Zjunk",
        "1899-12-31T23:59:59Z",
        "二〇二四-05-01T08:30:00Z",
        NULL};
    static const char *const good[] = {"2024-05-01T08:30:00Z", "2024-05-01 08:30:00+08:00",
                                       "2024-05-01T08:30:00.123456789-05:30",
                                       "2016-12-31T23:59:60Z", NULL};
    reject_each(MSG_SUBMIT, "case.requested_datetime", bad, ERR_INVALID_VALUE);
    accept_each(MSG_SUBMIT, "case.requested_datetime", good);
}

/* ---- numbers and enums -------------------------------------------------- */

static void num_capacity_range(void **state)
{
    (void)state;
    load(MSG_REGISTER);
    set("capacity", o_uint(0));
    expect_err(ERR_INVALID_VALUE, "capacity");
    load(MSG_REGISTER);
    set("capacity", o_uint(10001));
    expect_err(ERR_INVALID_VALUE, "capacity");
    load(MSG_REGISTER);
    set("capacity", o_uint(UINT64_MAX));
    expect_err(ERR_INVALID_VALUE, "capacity");
    load(MSG_REGISTER);
    set("capacity", o_uint(1));
    expect_ok();
    assert_int_equal(g_msg.capacity, 1);
}

static void num_lat_long_range(void **state)
{
    (void)state;
    static const struct { const char *path; double v; } bad[] = {
        {"case.lat", 91}, {"case.lat", -90.0001}, {"case.long", -181}, {"case.long", 180.5},
        {"case.lat", NAN}, {"case.long", INFINITY}, {"case.lat", -INFINITY},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        load(MSG_SUBMIT);
        set(bad[i].path, o_dbl(bad[i].v));
        expect_err(ERR_INVALID_VALUE, bad[i].path);
    }
    load(MSG_SUBMIT);
    set("case.lat", o_f32(NAN));
    expect_err(ERR_INVALID_VALUE, "case.lat");
    load(MSG_SUBMIT);
    set("case.lat", o_dbl(-90));
    set("case.long", o_dbl(180));
    expect_ok();
}

static void num_error_code_range(void **state)
{
    (void)state;
    load(MSG_ERROR);
    set("code", o_uint(99));
    expect_err(ERR_INVALID_VALUE, "code");
    load(MSG_ERROR);
    set("code", o_uint(600));
    expect_err(ERR_INVALID_VALUE, "code");
    load(MSG_ERROR);
    set("code", o_uint(599));
    expect_ok();
}

static void num_id_range(void **state)
{
    (void)state;
    load(MSG_CLOSE);
    set("case_id", o_uint(0));
    expect_err(ERR_INVALID_VALUE, "case_id");
    load(MSG_ACCEPT);
    set("assignment_id", o_uint(ID_MAX + 1));   /* 2^53: not exact in a double */
    expect_err(ERR_INVALID_VALUE, "assignment_id");
}

static void num_other_ranges(void **state)
{
    (void)state;
    static const struct { msg_cmd_t cmd; const char *key; int64_t v; } bad[] = {
        {MSG_ACK, "heartbeat_ms", 99}, {MSG_ACK, "heartbeat_ms", 600001},
        {MSG_ESCALATE, "level", 0}, {MSG_ESCALATE, "level", 17},
        {MSG_DISPATCH, "attempt", 0}, {MSG_DISPATCH, "attempt", 1000001},
        {MSG_DISPATCH, "received_at", -1}, {MSG_DISPATCH, "contact_due", INT64_MIN},
        {MSG_ESCALATE, "due_at", -1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        load(bad[i].cmd);
        set(bad[i].key, o_int(bad[i].v));
        what(bad[i].key);
        expect_err(ERR_INVALID_VALUE, bad[i].key);
    }
    what("");
}

static void num_int64_limits(void **state)
{
    (void)state;
    load(MSG_ESCALATE);
    set("overdue_s", o_int(INT64_MIN));
    expect_ok();
    assert_true(g_msg.overdue_s == INT64_MIN);
    load(MSG_ESCALATE);
    set("overdue_s", o_uint((uint64_t)INT64_MAX + 1));   /* does not fit int64 */
    expect_err(ERR_INVALID_VALUE, "overdue_s");
}

static void enum_unknown_value(void **state)
{
    (void)state;
    static const struct { msg_cmd_t cmd; const char *path, *v; } bad[] = {
        {MSG_FEEDBACK, "rating", "happy"}, {MSG_FEEDBACK, "rating", "Satisfied"},
        {MSG_FEEDBACK, "rating", ""}, {MSG_SUBMIT, "case.priority", "critical"},
        {MSG_CANCEL, "reason", "wrong_department"}, {MSG_RETURNED, "reason", "invalid"},
        {MSG_DISPATCH, "role", "lead "}, {MSG_ESCALATE, "ladder", "close"},
        {MSG_ACK, "state", "open"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        load(bad[i].cmd);
        set(bad[i].path, o_str(bad[i].v));
        what(bad[i].v);
        expect_err(ERR_INVALID_VALUE, bad[i].path);
    }
    what("");
}

/* Every wire name of every enum decodes to its index. */
static void enum_every_name(void **state)
{
    (void)state;
    for (int i = 1; i < STATE_COUNT; i++) {
        load(MSG_ACK);
        set("state", o_str(msg_state_names[i]));
        expect_ok();
        assert_int_equal(g_msg.state, i);
    }
    for (int i = 0; i < PRIO_COUNT; i++) {
        load(MSG_SUBMIT);
        set("case.priority", o_str(msg_priority_names[i]));
        expect_ok();
        assert_int_equal(g_msg.kase.priority, i);
    }
    for (int i = 1; i < RETURN_COUNT; i++) {
        load(MSG_RETURNED);
        set("reason", o_str(msg_return_names[i]));
        expect_ok();
        assert_int_equal(g_msg.return_reason, i);
    }
}

/* ---- maps: size, unknown keys, depth ------------------------------------ */

/* Add unknown keys k0, k1, ... to path's map until it holds `entries`. */
static void pad_map(const char *prefix, uint32_t have, uint32_t entries)
{
    for (uint32_t i = have; i < entries; i++) {
        char key[32];
        snprintf(key, sizeof key, "%sk%u", prefix, i);
        add(key, o_uint(i));
    }
}

static void map_too_many_keys(void **state)
{
    (void)state;
    load(MSG_HEARTBEAT);
    pad_map("", 0, MSG_MAX_KEYS);
    expect_ok();
    add("one_more", o_nil());
    expect_err(ERR_TOO_LONG, "body");
    load(MSG_SUBMIT);
    pad_map("case.", CF_COUNT, MSG_MAX_KEYS + 1);
    expect_err(ERR_TOO_LONG, "case");
}

static void unknown_keys_ignored(void **state)
{
    (void)state;
    static const char blob[] = "\x01\x02\x03\x00\xff";
    msgpack_object inner[3] = {o_int(-5), o_str("深"), o_dbl(1.5)};
    msgpack_object_kv kvs[2] = {{o_str("a"), o_arr(inner, 3)}, {o_int(7), o_bin(blob, 5)}};
    struct { const char *key; msgpack_object v; } extra[] = {
        {"x_map", o_map(kvs, 2)}, {"x_arr", o_arr(inner, 3)}, {"x_bin", o_bin(blob, 5)},
        {"x_ext", o_ext(5, blob, 5)}, {"x_fixext", o_ext(-1, blob, 4)},
        {"x_f32", o_f32(0.5)}, {"x_nil", o_nil()}, {"x_true", o_bool(true)},
        {"x_neg", o_int(INT64_MIN)}, {"x_u64", o_uint(UINT64_MAX)}, {"x_str", o_str("")},
        {"case_id", o_str("not for SUBMIT")},  /* a field of another command */
        {"case.x_map", o_map(kvs, 2)}, {"case.x_ext", o_ext(1, blob, 1)},
        {"case.state", o_int(-1)},
    };
    load(MSG_SUBMIT);
    msg_t want;
    fixture(&want, MSG_SUBMIT);
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++)
        set(extra[i].key, extra[i].v);
    expect_ok();
    assert_true(codec_equal(&want, &g_msg));
    assert_int_equal(g_msg.present, want.present);
}

/* An unknown value of `depth` nested arrays (maps when `maps`) under path. */
static void nest_under(const char *path, int depth, bool maps)
{
    static msgpack_object arr[16];
    static msgpack_object_kv kv[16];
    assert_true(depth <= 16);
    msgpack_object v = o_nil();
    for (int i = depth - 1; i >= 0; i--) {
        if (maps) {
            kv[i] = (msgpack_object_kv){o_str("k"), v};
            v = o_map(&kv[i], 1);
        } else {
            arr[i] = v;
            v = o_arr(&arr[i], 1);
        }
    }
    set(path, v);
}

static void unknown_depth_limit(void **state)
{
    (void)state;
    load(MSG_HEARTBEAT);
    nest_under("deep", MSG_MAX_DEPTH, false);
    expect_ok();
    load(MSG_HEARTBEAT);
    nest_under("deep", MSG_MAX_DEPTH, true);
    expect_ok();
}

static void unknown_too_deep(void **state)
{
    (void)state;
    load(MSG_HEARTBEAT);
    nest_under("deep", MSG_MAX_DEPTH + 1, false);
    expect_err(ERR_TOO_DEEP, NULL);
    load(MSG_HEARTBEAT);
    nest_under("deep", MSG_MAX_DEPTH + 1, true);
    expect_err(ERR_TOO_DEEP, NULL);
    load(MSG_SUBMIT);
    nest_under("case.deep", 16, false);
    expect_err(ERR_TOO_DEEP, NULL);
}

/* ---- msgpack-c issue 1013: counts that the bytes cannot hold ------------- */

static void unknown_raw(const char *bytes, size_t n)
{
    body(1);
    p_str("x");
    p_raw(bytes, n);
    g_cmd = MSG_HEARTBEAT;
}

static void issue1013_array32_value(void **state)
{
    (void)state;
    unknown_raw("\xdd\xff\x00\x00\x00", 5);
    expect_err(ERR_MALFORMED, NULL);
}

static void issue1013_map32_value(void **state)
{
    (void)state;
    unknown_raw("\xdf\xff\xff\xff\xff", 5);
    expect_err(ERR_MALFORMED, NULL);
}

static void issue1013_map32_body(void **state)
{
    (void)state;
    check_err(decode_raw("SUBMIT", "\xdf\xff\xff\xff\xff", 5), ERR_MALFORMED, "body");
    check_err(decode_raw("HEARTBEAT", "\xde\xff\xff", 3), ERR_MALFORMED, "body");
    /* an array body is refused for its type before its count matters (3.5) */
    check_err(decode_raw("HEARTBEAT", "\xdd\xff\x00\x00\x00", 5), ERR_WRONG_TYPE, "body");
}

/* Other declared lengths that overrun the body: str32, bin32, ext32, array16, map in case. */
static void lying_lengths(void **state)
{
    (void)state;
    static const struct { const char *b; size_t n; } bad[] = {
        {"\xdb\xff\xff\xff\xff", 5}, {"\xc6\x7f\xff\xff\xff", 5}, {"\xc9\x00\x01\x00\x00\x01", 6},
        {"\xdc\xff\xff", 3}, {"\x92\xc0", 2}, {"\xd8\x01", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unknown_raw(bad[i].b, bad[i].n);
        expect_err(ERR_MALFORMED, NULL);
    }
    /* the case map claims 2^32-1 entries */
    body(2);
    kv_str("msg_id", "m-1");
    p_str("case");
    p_raw("\xdf\xff\xff\xff\xff", 5);
    g_cmd = MSG_SUBMIT;
    expect_err(ERR_MALFORMED, "case");
    /* a string claims 2^32-1 bytes */
    body(1);
    p_str("msg_id");
    p_raw("\xdb\xff\xff\xff\xff" "abc", 8);
    g_cmd = MSG_ACCEPT;
    expect_err(ERR_MALFORMED, "msg_id");
}

/* ---- msg_id salvage and reasons ----------------------------------------- */

static void salvage_msg_id_bad_case(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    set("case.phone", o_str("call me"));
    expect_err(ERR_INVALID_VALUE, "case.phone");
    assert_non_null(g_msg.msg_id);
    assert_string_equal(g_msg.msg_id, "intake-7f3a-0001");
}

/* msg_id after the bad case: the decoder stops before it, salvage finds it. */
static void salvage_msg_id_after_case(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    drop("msg_id");
    set("case.description", o_int(1));
    add("msg_id", o_str("late-id"));
    expect_err(ERR_WRONG_TYPE, "case.description");
    assert_non_null(g_msg.msg_id);
    assert_string_equal(g_msg.msg_id, "late-id");
}

static void salvage_no_bad_msg_id(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    drop("msg_id");
    set("case.phone", o_str("x"));
    add("msg_id", o_str("has space"));
    expect_err(ERR_INVALID_VALUE, "case.phone");
    assert_null(g_msg.msg_id);
    load(MSG_SUBMIT);
    drop("msg_id");
    expect_err(ERR_MISSING_FIELD, "msg_id");
    assert_null(g_msg.msg_id);
    /* 5.18: only a msg_id before any entry that cannot be read */
    body(2);
    p_str("x");
    p_raw("\xc1", 1);
    kv_str("msg_id", "m-1");
    g_cmd = MSG_ACCEPT;
    expect_err(ERR_MALFORMED, NULL);
    assert_null(g_msg.msg_id);
    /* nor for a body over the limit (108) */
    heartbeat_padded_to(MSG_MAX_BODY + 1);
    add("msg_id", o_str("m-1"));
    expect_err(ERR_TOO_LARGE, "body");
    assert_null(g_msg.msg_id);
}

/* Salvage must read keys as keys: a value that says "msg_id" is not the key. */
static void salvage_stays_aligned(void **state)
{
    (void)state;
    body(3);
    kv_str("msg_id", "has space");      /* invalid: decode and salvage both reject it */
    kv_str("note", "msg_id");
    kv_str("forged", "x");
    g_cmd = MSG_SUBMIT;
    expect_err(ERR_INVALID_VALUE, "msg_id");
    assert_null(g_msg.msg_id);
}

/* A refusal's reason starts with the field and never quotes the value (5.18:
 * values may be personal data); the protocol's own example, verbatim. */
static void reason_names_field(void **state)
{
    (void)state;
    load(MSG_SUBMIT);
    set("case.phone", o_str("+86 138 0013 8000 ext. 5"));
    expect_err(ERR_INVALID_VALUE, "case.phone");
    assert_true(strncmp(g_err.reason, "case.phone", 10) == 0);
    assert_null(strstr(g_err.reason, "0013"));
    load(MSG_SUBMIT);
    set("case.phone", o_str("123456789012345678901234567890123"));   /* 33 > 32 */
    expect_err(ERR_TOO_LONG, "case.phone");
    assert_string_equal(g_err.reason, "case.phone: 33 characters, at most 32");
    load(MSG_SUBMIT);
    set("case.email", o_str("wang xm@example.cn"));
    expect_err(ERR_INVALID_VALUE, "case.email");
    assert_null(strstr(g_err.reason, "wang"));
}

/* ---- encode ------------------------------------------------------------- */

static void encode_missing_required(void **state)
{
    (void)state;
    msg_t m;
    codec_frame_t f[3];
    fixture(&m, MSG_REGISTER);
    m.present &= ~(UINT64_C(1) << MF_CAPACITY);
    memset(&g_err, 0, sizeof g_err);
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), -1);
    assert_int_equal(g_err.code, ERR_MISSING_FIELD);
    assert_non_null(strstr(g_err.reason, "capacity"));
}

static void encode_missing_case_field(void **state)
{
    (void)state;
    msg_t m;
    codec_frame_t f[3];
    fixture(&m, MSG_DISPATCH);
    m.kase.present &= ~(UINT64_C(1) << CF_DESCRIPTION);
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), -1);
    assert_int_equal(g_err.code, ERR_MISSING_FIELD);
    assert_non_null(strstr(g_err.reason, "case.description"));
    fixture(&m, MSG_SUBMIT);
    m.present &= ~(UINT64_C(1) << MF_CASE);
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), -1);
    assert_int_equal(g_err.code, ERR_MISSING_FIELD);
}

static void encode_bad_command_or_enum(void **state)
{
    (void)state;
    msg_t m;
    codec_frame_t f[3];
    msg_reset(&m, MSG_NONE);
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), -1);
    assert_int_equal(g_err.code, ERR_UNKNOWN_COMMAND);
    msg_reset(&m, MSG_CMD_COUNT);
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), -1);
    fixture(&m, MSG_FEEDBACK);
    m.rating = RATING_NONE;              /* present, but has no wire name */
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), -1);
    assert_int_equal(g_err.code, ERR_INVALID_VALUE);
    assert_non_null(strstr(g_err.reason, "rating"));
}

/* Fields the command does not use are not put on the wire. */
static void encode_only_command_fields(void **state)
{
    (void)state;
    msg_t m;
    codec_frame_t f[3];
    fixture(&m, MSG_ACCEPT);
    SET(&m, MF_NOTE, note, "not an ACCEPT field");
    assert_int_equal(codec_encode(g_enc, &m, f, &g_err), 0);
    assert_int_equal(codec_decode(g_dec, f, 3, &g_msg, &g_err), 0);
    assert_false(MSG_HAS(&g_msg, MF_NOTE));
    assert_null(memmem(f[2].data, f[2].size, "note", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rt_submit),
        cmocka_unit_test(rt_submit_ok),
        cmocka_unit_test(rt_feedback),
        cmocka_unit_test(rt_close),
        cmocka_unit_test(rt_reassign),
        cmocka_unit_test(rt_cancel),
        cmocka_unit_test(rt_register),
        cmocka_unit_test(rt_heartbeat),
        cmocka_unit_test(rt_disconnect),
        cmocka_unit_test(rt_dispatch),
        cmocka_unit_test(rt_accept),
        cmocka_unit_test(rt_contacted),
        cmocka_unit_test(rt_progress),
        cmocka_unit_test(rt_resolved),
        cmocka_unit_test(rt_returned),
        cmocka_unit_test(rt_escalate),
        cmocka_unit_test(rt_ack),
        cmocka_unit_test(rt_error),
        cmocka_unit_test(rt_event),
        cmocka_unit_test(rt_import),
        cmocka_unit_test(rt_every_command_has_fixture),
        cmocka_unit_test(equal_sees_differences),
        cmocka_unit_test(decode_resets_message),

        cmocka_unit_test(frames_none),
        cmocka_unit_test(frames_wrong_count),
        cmocka_unit_test(frames_bad_signature),
        cmocka_unit_test(frames_bad_version),
        cmocka_unit_test(frames_unknown_command),

        cmocka_unit_test(body_empty),
        cmocka_unit_test(body_not_a_map),
        cmocka_unit_test(body_not_msgpack),
        cmocka_unit_test(body_truncated),
        cmocka_unit_test(unknown_value_invalid_byte),
        cmocka_unit_test(body_too_large),
        cmocka_unit_test(body_max_size_accepted),
        cmocka_unit_test(body_trailing_bytes),
        cmocka_unit_test(duplicate_key_top),
        cmocka_unit_test(duplicate_key_case),
        cmocka_unit_test(duplicate_key_after_nil),
        cmocka_unit_test(key_not_a_string),

        cmocka_unit_test(missing_required_top),
        cmocka_unit_test(missing_required_case),
        cmocka_unit_test(missing_each_field_every_command),
        cmocka_unit_test(nil_optional_is_absent),
        cmocka_unit_test(nil_required_is_missing),
        cmocka_unit_test(nil_each_field_every_command),

        cmocka_unit_test(type_string_given_int),
        cmocka_unit_test(type_uint_given_string),
        cmocka_unit_test(type_uint_given_negative),
        cmocka_unit_test(type_int_given_string),
        cmocka_unit_test(type_bool_given_int),
        cmocka_unit_test(type_enum_given_int),
        cmocka_unit_test(type_case_given_array),
        cmocka_unit_test(type_float_given_string),
        cmocka_unit_test(float_accepts_f32_and_int),

        cmocka_unit_test(str_4000_cjk_accepted),
        cmocka_unit_test(str_4001_cjk_too_long),
        cmocka_unit_test(str_too_long_ascii),
        cmocka_unit_test(str_too_short),
        cmocka_unit_test(utf8_overlong),
        cmocka_unit_test(utf8_cut_stops_at_the_end),
        cmocka_unit_test(utf8_surrogate),
        cmocka_unit_test(utf8_truncated),
        cmocka_unit_test(utf8_stray_continuation),
        cmocka_unit_test(utf8_out_of_range),
        cmocka_unit_test(utf8_in_key),
        cmocka_unit_test(str_embedded_nul),

        cmocka_unit_test(fmt_token),
        cmocka_unit_test(fmt_msg_id),
        cmocka_unit_test(fmt_grid_code),
        cmocka_unit_test(fmt_phone),
        cmocka_unit_test(fmt_email),
        cmocka_unit_test(fmt_media_url),
        cmocka_unit_test(fmt_datetime),

        cmocka_unit_test(num_capacity_range),
        cmocka_unit_test(num_lat_long_range),
        cmocka_unit_test(num_error_code_range),
        cmocka_unit_test(num_id_range),
        cmocka_unit_test(num_other_ranges),
        cmocka_unit_test(num_int64_limits),
        cmocka_unit_test(enum_unknown_value),
        cmocka_unit_test(enum_every_name),

        cmocka_unit_test(map_too_many_keys),
        cmocka_unit_test(unknown_keys_ignored),
        cmocka_unit_test(unknown_depth_limit),
        cmocka_unit_test(unknown_too_deep),

        cmocka_unit_test(issue1013_array32_value),
        cmocka_unit_test(issue1013_map32_value),
        cmocka_unit_test(issue1013_map32_body),
        cmocka_unit_test(lying_lengths),

        cmocka_unit_test(salvage_msg_id_bad_case),
        cmocka_unit_test(salvage_msg_id_after_case),
        cmocka_unit_test(salvage_no_bad_msg_id),
        cmocka_unit_test(salvage_stays_aligned),
        cmocka_unit_test(reason_names_field),

        cmocka_unit_test(encode_missing_required),
        cmocka_unit_test(encode_missing_case_field),
        cmocka_unit_test(encode_bad_command_or_enum),
        cmocka_unit_test(encode_only_command_fields),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
