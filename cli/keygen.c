/*
 * keygen.c - `minqing keygen NAME`: a CURVE keypair as CZMQ zcert files:
 * NAME holds the public key (give it to the broker's allowlist, or to
 * clients for the broker's own), NAME_secret the secret key, mode 0600.
 */
#include "cli.h"

#include <czmq.h>
#include <sys/stat.h>

#define CMD "keygen"

static void help(void)
{
    printf(
        "usage: minqing keygen NAME\n"
        "\n"
        "Write a CURVE keypair: NAME (public certificate) and NAME_secret (secret,\n"
        "mode 0600). For the broker: server_cert = NAME in [broker]. For a client:\n"
        "copy NAME into the broker's keys directory, under intake/, admin/ or\n"
        "workers/<department>/, and reload the broker (systemctl reload minqingd).\n"
        "\n"
        "Exit status: 0 written; 1 a file could not be written; 2 usage.\n");
}

int cmd_keygen(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:", opts)) != -1) {
        if (c == 'h') {
            help();
            return CLI_OK;
        }
        return CLI_USAGE;
    }
    if (argc - optind != 1)
        return cli_usage(CMD, "give the name of the certificate file to write");
    const char *name = argv[optind];
    char secret[4096];
    snprintf(secret, sizeof secret, "%s_secret", name);
    zcert_t *cert = zcert_new();
    mode_t old = umask(077);
    int rc = cert && zcert_save_public(cert, name) == 0 && zcert_save_secret(cert, secret) == 0
             && chmod(secret, 0600) == 0 ? CLI_OK : CLI_RUNTIME;
    umask(old);
    if (rc == CLI_OK)
        chmod(name, 0644);              /* the public half is meant to be shared */
    else
        cli_fail(CLI_RUNTIME, CMD, "%s: cannot write the keypair", name);
    zcert_destroy(&cert);
    return rc;
}
