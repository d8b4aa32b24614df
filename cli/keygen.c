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
        "usage: minqing keygen [--force] NAME\n"
        "\n"
        "Write a CURVE keypair: NAME (public certificate) and NAME_secret (secret,\n"
        "mode 0600). For the broker: server_cert = NAME in [broker]. For a client:\n"
        "copy NAME into the broker's keys directory, under intake/, admin/ or\n"
        "workers/<department>/, and reload the broker (systemctl reload minqingd).\n"
        "\n"
        "Options:\n"
        "  -f, --force   replace an existing NAME and NAME_secret (whoever uses the old\n"
        "                keypair is locked out)\n"
        "  -h, --help    this help\n"
        "\n"
        "Exit status: 0 written; 1 NAME or NAME_secret exists (without --force), or a\n"
        "file could not be written; 2 usage.\n");
}

int cmd_keygen(cli_t *cli, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool force = false;
    int c;
    while ((c = cli_getopt(cli, CMD, argc, argv, ":hc:f", opts)) != -1) {
        switch (c) {
        case 'h': help(); return CLI_OK;
        case 'f': force = true; break;
        default: return CLI_USAGE;
        }
    }
    if (argc - optind != 1)
        return cli_usage(CMD, "give the name of the certificate file to write");
    const char *name = argv[optind];
    char secret[4096];
    snprintf(secret, sizeof secret, "%s_secret", name);
    struct stat st;
    const char *there = lstat(name, &st) == 0 ? name : lstat(secret, &st) == 0 ? secret : NULL;
    if (there && !force)    /* replacing a key in use locks its broker or clients out */
        return cli_fail(CLI_RUNTIME, CMD, "%s exists: not replacing a keypair that may be in "
                        "use. Choose another NAME, or give --force to replace it.", there);
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
