/*
 * connect.c - how submit, import, tail and the case commands (close,
 * cancel, reassign, feedback) reach the running broker: on a
 * tcp:// endpoint the broker is a CURVE server (PROTOCOL.md section 10), so
 * these commands take the broker's public certificate (--server-cert, by
 * default server_cert of the config they read anyway) and their own keypair
 * (--cert), both zcert files from `minqing keygen`.
 *
 * A key the broker does not admit gets no answer at all, which would look
 * like a stopped broker: libminqing watches the handshake for submit and
 * import, and tail watches its own SUB socket's with libminqing's
 * mq_handshake. Either way the command ends at once and says which list the
 * key belongs on (cli_client_failed).
 *
 * A request that fails for the broker's or the connection's sake (no answer,
 * a refused key, ERROR 3xx or 5xx) is explained the same way whatever it
 * was (cli_request_failed); only the request's own faults (1xx, 2xx) need
 * the command's words.
 */
#include "cli.h"
#include "minqing.h"

#include <errno.h>
#include <string.h>

/* what to do about a refused key: the certificate, the list it belongs on */
#define REFUSED_HINT "Copy %s into the broker's %s and reload it (systemctl reload minqingd)."

/* ---- which keys ------------------------------------------------------- */

/* Load the certificates into c; CLI_OK or CLI_RUNTIME after saying which
 * file is wrong (libminqing's words for a secret key open to others: they
 * name the file and the chmod). */
static int load(const char *cmd, cli_curve_t *c)
{
    if (mq_curve_load(&c->keys, c->server_path, c->client_path) == 0)
        return CLI_OK;
    switch (c->keys.bad) {
    case MQ_CURVE_SERVER:
        return cli_fail(CLI_RUNTIME, cmd, "cannot read the broker's certificate %s",
                        c->server_path);
    case MQ_CURVE_CLIENT:
        return cli_fail(CLI_RUNTIME, cmd, "cannot read this client's certificate %s (--cert)",
                        c->client_path);
    case MQ_CURVE_SECRET:
        return cli_fail(CLI_RUNTIME, cmd, "%s_secret: this client's secret key is missing or "
                        "unreadable (minqing keygen writes FILE and FILE_secret)", c->client_path);
    default:
        return cli_fail(CLI_RUNTIME, cmd, "%s", mq_strerror());
    }
}

int cli_curve(const cli_t *cli, const char *cmd, const char *endpoint, const char *lists,
              cli_curve_t *c)
{
    memset(c, 0, sizeof *c);
    bool tcp = strncmp(endpoint, "tcp://", 6) == 0;
    if (!tcp && (cli->server_cert || cli->cert))
        return cli_usage(cmd, "%s is not a tcp:// endpoint: the broker uses no CURVE there "
                         "(file permissions decide who connects); leave out --cert and "
                         "--server-cert", endpoint);
    c->server_path = cli->server_cert ? cli->server_cert : cli->cfg->server_cert;
    c->client_path = cli->cert;
    if (!tcp || (!c->server_path && !c->client_path))
        return CLI_OK;              /* ipc://, or plain TCP where the config allows it */
    if (!c->client_path)
        return cli_usage(cmd, "%s is a CURVE endpoint (the broker's certificate: %s): give "
                         "this client's certificate with --cert FILE (made by minqing keygen, "
                         "its public part in the broker's %s)", endpoint, c->server_path, lists);
    if (!c->server_path)
        return cli_usage(cmd, "--cert needs the broker's public certificate: give "
                         "--server-cert FILE (%s sets no server_cert)", cli->config_path);
    return load(cmd, c);
}

/* ---- intake clients --------------------------------------------------- */

int cli_client_open(const cli_t *cli, const char *cmd, const char *lists, mq_client_t **out)
{
    const char *endpoint = cli->cfg->intake_endpoint;
    cli_curve_t curve;
    *out = NULL;
    int rc = cli_curve(cli, cmd, endpoint, lists, &curve);
    if (rc == CLI_OK)
        rc = cli_endpoint_check(cli, cmd, endpoint, "intake");
    if (rc != CLI_OK)
        return rc;
    mq_client_t *client = mq_client_new(endpoint);
    if (!client)
        return cli_fail(CLI_RUNTIME, cmd, "cannot connect to %s: %s", endpoint, mq_strerror());
    if (curve.keys.on && mq_client_set_certs(client, curve.server_path, curve.client_path)) {
        mq_client_destroy(&client);
        return cli_fail(CLI_RUNTIME, cmd, "%s", mq_strerror());
    }
    *out = client;
    return CLI_OK;
}

int cli_client_failed(const cli_t *cli, const char *cmd, const char *lists)
{
    if (errno != EACCES)
        return cli_fail(CLI_RUNTIME, cmd, "%s", mq_strerror());
    return cli_fail(CLI_RUNTIME, cmd, "%s. " REFUSED_HINT, mq_strerror(), cli->cert, lists);
}

/* ---- requests that failed --------------------------------------------- */

int cli_request_failed(const cli_t *cli, const char *cmd, const mq_client_t *client,
                       const char *lists, long timeout_s, const char *again)
{
    msg_err_t code = mq_client_error(client);
    if (code == MSG_OK && errno == ETIMEDOUT)
        return cli_fail(CLI_RUNTIME, cmd, "no answer from the broker at %s within %ld s. Is "
                        "minqingd running (systemctl status minqingd)? %s",
                        cli->cfg->intake_endpoint, timeout_s, again);
    if (code == MSG_OK)
        return cli_client_failed(cli, cmd, lists);
    if (code == ERR_FORBIDDEN)              /* admitted, but not in this role */
        return cli_fail(CLI_RUNTIME, cmd, "%s. Give --cert a key on the broker's %s (or copy "
                        "%s there and reload it: systemctl reload minqingd).", mq_strerror(),
                        lists, cli->cert ? cli->cert : "this client's certificate");
    if (code == ERR_RATE_LIMITED)
        return cli_fail(CLI_RUNTIME, cmd, "%s. Nothing was applied: this client sends too "
                        "fast for the broker's intake_rate; try again in a moment.",
                        mq_strerror());
    /* an ERROR is never applied (PROTOCOL.md 8.1), so the same again is safe */
    if (code / 100 == 5)
        return cli_fail(CLI_RUNTIME, cmd, "the broker could not take it now: %s. Nothing was "
                        "applied: try again later (journalctl -u minqingd says why).",
                        mq_strerror());
    if (code / 100 == 3)
        return cli_fail(CLI_RUNTIME, cmd, "%s.", mq_strerror());
    return CLI_OK;
}
