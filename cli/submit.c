/*
 * submit.c - `minqing submit [FILE|-]`: send one case to the broker as an
 * intake client (SUBMIT through libminqing) and print its id.
 *
 * The case is a JSON object with the Open311 field names of PROTOCOL.md
 * section 6. The CLI checks the JSON types and the required fields itself,
 * so that a typo ("lon" for "long") is named before anything is sent; the
 * broker checks the rest (lengths, formats, the grid code) and its ERROR
 * reason is printed as it comes. A resend of the same (channel, external_id)
 * creates nothing: it prints the first case's id with "(duplicate)".
 */
#include "cli.h"
#include "codec.h"
#include "jsonerr.h"
#include "minqing.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#define CMD "submit"
#define LISTS "keys/intake/ (or keys/admin/)"     /* the allowlists of keys that may SUBMIT */

static void help(void)
{
    printf(
        "usage: minqing submit [-c FILE] [--timeout SECONDS] [--cert FILE] [CASE.json | -]\n"
        "\n"
        "Submit one case to the broker and print its id (受理编号); the id is followed\n"
        "by \"(duplicate)\" when the (channel, external_id) was already known, in which\n"
        "case nothing new was created. The case is read from CASE.json, or from standard\n"
        "input when the file is '-' or absent.\n"
        "\n"
        "The case is a JSON object with the Open311 field names (proto/PROTOCOL.md,\n"
        "section 6):\n"
        "  required  service_code, description, external_id, channel, grid_code\n"
        "  optional  address_string, first_name, last_name, phone, email, media_url,\n"
        "            requested_datetime, lat, long (numbers), priority (low, normal,\n"
        "            high, urgent)\n"
        "A null value is the same as leaving the field out. The case is UTF-8 (a BOM at\n"
        "its start is skipped); one in UTF-16 is refused. Example:\n"
        "  {\"service_code\": \"water.leak\", \"description\": \"楼道水管漏水\",\n"
        "   \"external_id\": \"HL-20261101-0001\", \"channel\": \"hotline12345\",\n"
        "   \"grid_code\": \"CG01-XH02-G0031\", \"phone\": \"13812345678\"}\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE      the broker's config, for [broker] intake\n"
        "                         (default %s)\n"
        "  -t, --timeout SECONDS  wait this long for the broker's answer (default 10)\n"
        CLI_CERT_HELP
        "  -h, --help             this help\n"
        "\n"
        "On a tcp:// intake endpoint the broker admits only known CURVE keys: give\n"
        "--cert with a keypair whose public part is in the broker's keys/intake/.\n"
        "\n"
        "Submitting the same case again is always safe: the broker deduplicates by\n"
        "(channel, external_id). Exit status: 0 submitted (or duplicate); 1 broker\n"
        "unreachable, failing or refusing this client's key; 2 bad option (or no --cert\n"
        "for a CURVE endpoint), unreadable, UTF-16 or invalid case (the broker's reason\n"
        "is printed).\n",
        CONFIG_DEFAULT_PATH);
}

typedef enum { F_STR, F_NUM, F_PRIORITY } ftype_t;

static const struct field {
    const char *name;
    ftype_t type;
    bool required;
    msg_case_field_t bit;
    size_t off;                 /* of the const char * (F_STR) or double (F_NUM) */
} fields[] = {
    {"service_code", F_STR, true, CF_SERVICE_CODE, offsetof(msg_case_t, service_code)},
    {"description", F_STR, true, CF_DESCRIPTION, offsetof(msg_case_t, description)},
    {"external_id", F_STR, true, CF_EXTERNAL_ID, offsetof(msg_case_t, external_id)},
    {"channel", F_STR, true, CF_CHANNEL, offsetof(msg_case_t, channel)},
    {"grid_code", F_STR, true, CF_GRID_CODE, offsetof(msg_case_t, grid_code)},
    {"address_string", F_STR, false, CF_ADDRESS_STRING, offsetof(msg_case_t, address_string)},
    {"first_name", F_STR, false, CF_FIRST_NAME, offsetof(msg_case_t, first_name)},
    {"last_name", F_STR, false, CF_LAST_NAME, offsetof(msg_case_t, last_name)},
    {"phone", F_STR, false, CF_PHONE, offsetof(msg_case_t, phone)},
    {"email", F_STR, false, CF_EMAIL, offsetof(msg_case_t, email)},
    {"media_url", F_STR, false, CF_MEDIA_URL, offsetof(msg_case_t, media_url)},
    {"requested_datetime", F_STR, false, CF_REQUESTED_DATETIME,
     offsetof(msg_case_t, requested_datetime)},
    {"lat", F_NUM, false, CF_LAT, offsetof(msg_case_t, lat)},
    {"long", F_NUM, false, CF_LONG, offsetof(msg_case_t, lon)},
    {"priority", F_PRIORITY, false, CF_PRIORITY, offsetof(msg_case_t, priority)},
};
#define NFIELDS (sizeof fields / sizeof fields[0])

static const struct field *find_field(const char *name)
{
    for (size_t i = 0; i < NFIELDS; i++)
        if (strcmp(fields[i].name, name) == 0)
            return &fields[i];
    return NULL;
}

int cli_case_from_json(json_t *obj, const char *cmd, const char *src, msg_case_t *kase)
{
    memset(kase, 0, sizeof *kase);
    if (!json_is_object(obj))
        return cli_fail(CLI_USAGE, cmd, "%s: the case must be a JSON object {...}", src);
    int bad = 0;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        const struct field *f = find_field(key);
        if (!f) {
            bad++;
            cli_fail(CLI_USAGE, cmd, "%s: unknown field '%s'%s (see minqing %s --help)", src,
                     key, strcmp(key, "lon") == 0 ? ": Open311 calls it 'long'" : "", cmd);
            continue;
        }
        if (json_is_null(v))
            continue;                   /* null is absent, as in the protocol */
        char *at = (char *)kase + f->off;
        if (f->type == F_STR && json_is_string(v)) {
            *(const char **)(void *)at = json_string_value(v);
        } else if (f->type == F_NUM && json_is_number(v)) {
            *(double *)(void *)at = json_number_value(v);
            MSG_SET(kase, f->bit);
        } else if (f->type == F_PRIORITY && json_is_string(v)) {
            int p = msg_enum_from_name(msg_priority_names, PRIO_COUNT, json_string_value(v));
            if (p < 0) {
                bad++;
                cli_fail(CLI_USAGE, cmd, "%s: priority must be low, normal, high or urgent", src);
                continue;
            }
            kase->priority = (msg_priority_t)p;
            MSG_SET(kase, f->bit);
        } else {
            bad++;
            cli_fail(CLI_USAGE, cmd, "%s: field '%s' must be %s", src, key,
                     f->type == F_NUM ? "a number" : "a string");
        }
    }
    for (size_t i = 0; i < NFIELDS; i++)
        if (fields[i].required &&
            !*(const char **)(void *)((char *)kase + fields[i].off)) {
            bad++;
            cli_fail(CLI_USAGE, cmd, "%s: required field '%s' is missing", src, fields[i].name);
        }
    return bad ? CLI_USAGE : CLI_OK;
}

/* ---- the input's encoding ----------------------------------------------- */

const char *cli_text_utf16(const char *buf, size_t len, size_t *skip)
{
    *skip = 0;
    if (len >= 2 && (memcmp(buf, "\xff\xfe", 2) == 0 || memcmp(buf, "\xfe\xff", 2) == 0))
        return "UTF-16";
    const char *nl = memchr(buf, '\n', len);
    const char *nul = memchr(buf, '\0', nl ? (size_t)(nl - buf) + 1 : len);
    if (nul)    /* ASCII in UTF-16: its NUL byte after it (LE) or before it (BE) */
        return (nul - buf) % 2 ? "UTF-16LE" : "UTF-16BE";
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        *skip = 3;              /* Notepad's "UTF-8 with BOM": the rest is UTF-8 */
    return NULL;
}

int cli_utf16_fail(const char *cmd, const char *name, const char *enc)
{
    if (!name)
        return cli_fail(CLI_USAGE, cmd, "standard input is %s (a Windows \"Unicode text\" "
                        "export): convert it with iconv -f %s -t UTF-8 first", enc, enc);
    return cli_fail(CLI_USAGE, cmd, "%s is %s (a Windows \"Unicode text\" export): convert it "
                    "with iconv -f %s -t UTF-8 %s > %s.utf8", name, enc, enc, name, name);
}

/* The case's input, as jansson reads it (json_load_callback): a UTF-8 BOM
 * at its start skipped, UTF-16 found, which jansson would call invalid
 * UTF-8 at column 1. */
typedef struct {
    FILE *f;
    bool begun;
    const char *utf16;          /* the UTF-16 found, reading stopped */
} case_in_t;

static size_t case_bytes(void *buf, size_t len, void *data)
{
    case_in_t *in = data;
    size_t n = fread(buf, 1, len, in->f), skip = 0;
    if (!in->begun) {
        in->begun = true;
        if ((in->utf16 = cli_text_utf16(buf, n, &skip)))
            return (size_t)-1;
        memmove(buf, (char *)buf + skip, n - skip);
        n -= skip;
    }
    return n == 0 && ferror(in->f) ? (size_t)-1 : n;
}

/* The case read from path (NULL or "-": standard input); NULL after saying
 * why it cannot be read or is not JSON. */
static json_t *read_case(const char *path)
{
    json_error_t err;
    bool std_in = !path || strcmp(path, "-") == 0;
    if (std_in && isatty(STDIN_FILENO))
        fprintf(stderr, "minqing submit: reading the case from the terminal; end it with "
                "Ctrl-D (or give a file: minqing submit case.json)\n");
    case_in_t in = {.f = std_in ? stdin : fopen(path, "r")};
    if (!in.f) {
        cli_fail(CLI_USAGE, CMD, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    json_t *root = json_load_callback(case_bytes, &in, JSON_REJECT_DUPLICATES, &err);
    int e = errno;
    bool unreadable = ferror(in.f);
    if (!std_in)
        fclose(in.f);
    if (root)
        return root;
    if (in.utf16)
        cli_utf16_fail(CMD, std_in ? NULL : path, in.utf16);
    else if (unreadable)
        cli_fail(CLI_USAGE, CMD, "cannot read %s: %s", std_in ? "standard input" : path,
                 strerror(e));
    else
        cli_fail(CLI_USAGE, CMD, "%s:%d:%d: not valid JSON: %s%s", std_in ? "(stdin)" : path,
                 err.line, err.column, jsonerr_problem(&err),
                 json_error_code(&err) == json_error_invalid_utf8 ? CLI_GBK_HINT : "");
    return NULL;
}

/* Say what went wrong with the SUBMIT and how to go on. */
static int submit_failed(const cli_t *cli, mq_client_t *client, long timeout_s)
{
    int rc = cli_request_failed(cli, CMD, client, LISTS, timeout_s, "Submitting the same case "
                                "again is safe: its (channel, external_id) never makes a second "
                                "case.");
    if (rc != CLI_OK)
        return rc;
    return cli_fail(CLI_USAGE, CMD, "the broker refused the case: %s. Correct that field "
                    "and submit again.", mq_strerror());
}

int cmd_submit(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        CLI_CERT_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    long timeout_s = 10;
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:t:", opts)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 't':
            if (cli_parse_long(optarg, 1, 3600, &timeout_s))
                return cli_usage(CMD, "--timeout takes seconds, 1 to 3600");
            break;
        default: return CLI_USAGE;
        }
    }
    if (argc - optind > 1)
        return cli_usage(CMD, "one case file at a time (got %d arguments)", argc - optind);
    const char *path = optind < argc ? argv[optind] : NULL;
    json_t *root = read_case(path);
    if (!root)
        return CLI_USAGE;
    msg_case_t kase;
    int rc = cli_case_from_json(root, CMD, path && strcmp(path, "-") ? path : "(stdin)", &kase);
    if (rc == CLI_OK)
        rc = cli_load_config(cli, CMD);
    mq_client_t *client = NULL;
    if (rc == CLI_OK)
        rc = cli_client_open(cli, CMD, LISTS, &client);
    if (rc == CLI_OK) {
        uint64_t id = 0;
        bool dup = false;
        errno = 0;
        if (mq_client_submit(client, &kase, (int)timeout_s * 1000, &id, &dup) == 0)
            printf("%" PRIu64 "%s\n", id, dup ? " (duplicate)" : "");
        else
            rc = submit_failed(cli, client, timeout_s);
    }
    mq_client_destroy(&client);
    json_decref(root);
    return rc;
}
