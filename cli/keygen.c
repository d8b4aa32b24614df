/*
 * keygen.c - `minqing keygen NAME`: a CURVE keypair as CZMQ zcert files:
 * NAME holds the public key (give it to the broker's allowlist, or to
 * clients for the broker's own), NAME_secret the secret key, mode 0600.
 *
 * The two files must always be of one pair: a public file whose secret is
 * lost locks out whoever is listed by it. So both are written to new files
 * beside their names and synced before either name changes, and then put
 * in place public first, secret last. zcert_load, which the broker and
 * clients use, reads NAME_secret (it holds both keys), so whoever uses the
 * old pair goes on with it until that last rename; should it fail, the old
 * public file, swapped out rather than overwritten, is put back. Either way
 * NAME and NAME_secret end as one pair, the old or the new.
 */
#include "cli.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

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
        "A keygen that fails leaves the files as they were.\n"
        "\n"
        "Options:\n"
        "  -f, --force   replace an existing NAME and NAME_secret (whoever uses the old\n"
        "                keypair is locked out)\n"
        "  -h, --help    this help\n"
        "\n"
        "Exit status: 0 written; 1 NAME or NAME_secret exists (without --force), or a\n"
        "file could not be written; 2 usage.\n");
}

/* One file of the pair: its name, the new file beside it, whether a file
 * was under its name, and whether that one is now under the new one's
 * (swapped). */
typedef struct {
    const char *name;
    char tmp[4200];
    bool existed, swapped;
} part_t;

/* The text of a certificate file as zcert writes it, made in memory (a
 * memfd): zcert checks none of its writes, so a full disk would give an
 * empty file, and success. NULL (errno) when it cannot be made. */
static char *cert_text(zcert_t *cert, bool secret, size_t *len)
{
    int fd = memfd_create("minqing-keygen", MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    char path[64], *text = NULL;
    errno = 0;
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    int rc = secret ? zcert_save_secret(cert, path) : zcert_save_public(cert, path);
    off_t n = rc == 0 ? lseek(fd, 0, SEEK_END) : -1;
    if (n > 0 && (text = malloc((size_t)n)) && pread(fd, text, (size_t)n, 0) != n) {
        free(text);
        text = NULL;
    }
    if (!text && errno == 0)
        errno = EIO;
    *len = n > 0 ? (size_t)n : 0;
    close(fd);
    return text;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n, len -= (size_t)n;
    }
    return 0;
}

/* Write one file of the pair to a new file beside its name, with `mode`,
 * synced: 0, or -1 (errno) with nothing left. */
static int write_part(part_t *p, zcert_t *cert, bool secret, mode_t mode)
{
    size_t len = 0;
    char *text = cert_text(cert, secret, &len);
    if (!text)
        return -1;
    snprintf(p->tmp, sizeof p->tmp, "%s.new-XXXXXX", p->name);
    int fd = mkstemp(p->tmp);
    bool ok = fd >= 0 && fchmod(fd, mode) == 0 && write_all(fd, text, len) == 0 &&
              fsync(fd) == 0;
    int e = errno;
    if (fd >= 0 && close(fd) != 0 && ok)
        ok = false, e = errno;
    if (!ok && fd >= 0)
        unlink(p->tmp);
    free(text);
    errno = e;
    return ok ? 0 : -1;
}

/* Put the new file under its name: swapped with the file there, which stays
 * under the new one's name to be put back, or renamed when there is none.
 * A file system that cannot swap (EINVAL: some network ones) gets a plain
 * rename, which cannot be undone. 0, or -1 (errno). */
static int put(part_t *p)
{
    struct stat st;
    p->existed = lstat(p->name, &st) == 0;
    p->swapped = renameat2(AT_FDCWD, p->tmp, AT_FDCWD, p->name, RENAME_EXCHANGE) == 0;
    if (p->swapped)
        return 0;
    return errno == ENOENT || errno == EINVAL ? rename(p->tmp, p->name) : -1;
}

/* Undo put: the old file back under its name, or none when there was none;
 * false when it was renamed over (and is gone). */
static bool put_back(part_t *p)
{
    if (p->swapped)
        return renameat2(AT_FDCWD, p->tmp, AT_FDCWD, p->name, RENAME_EXCHANGE) == 0;
    return !p->existed && unlink(p->name) == 0;
}

/* Write the pair (see the top of the file); CLI_OK, or CLI_RUNTIME after
 * saying why, the files as they were. */
static int write_pair(zcert_t *cert, part_t *pub, part_t *sec)
{
    if (write_part(pub, cert, false, 0644) != 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: cannot write the public key: %s. Nothing was "
                        "changed.", pub->name, strerror(errno));
    if (write_part(sec, cert, true, 0600) != 0) {
        int e = errno;
        unlink(pub->tmp);
        return cli_fail(CLI_RUNTIME, CMD, "%s: cannot write the secret key: %s. Nothing was "
                        "changed.", sec->name, strerror(e));
    }
    const char *failed = put(pub) != 0 ? pub->name : put(sec) != 0 ? sec->name : NULL;
    if (failed) {
        int e = errno;
        bool undone = failed == pub->name || put_back(pub);
        unlink(pub->tmp), unlink(sec->tmp);
        if (!undone)
            return cli_fail(CLI_RUNTIME, CMD, "%s: cannot put it in place: %s, and %s is the new "
                            "public key: run minqing keygen --force %s again.", failed,
                            strerror(e), pub->name, pub->name);
        return cli_fail(CLI_RUNTIME, CMD, "%s: cannot put it in place: %s. %s and %s are as they "
                        "were.", failed, strerror(e), pub->name, sec->name);
    }
    if (pub->swapped)
        unlink(pub->tmp);               /* the old pair, replaced */
    if (sec->swapped)
        unlink(sec->tmp);
    if (dbfile_sync(pub->name, true) != 0)
        return cli_fail(CLI_RUNTIME, CMD, "%s: written, but its directory could not be synced: "
                        "%s", pub->name, strerror(errno));
    return CLI_OK;
}

/* CLI_OK when a key may be written under `path`, else CLI_RUNTIME after
 * saying why not: a directory is never replaced, and a key (which may be in
 * use: its broker or clients would be locked out) only with --force. */
static int may_write(const char *path, bool force)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return CLI_OK;
    if (S_ISDIR(st.st_mode))
        return cli_fail(CLI_RUNTIME, CMD, "%s is a directory: not replacing it with a key.", path);
    if (!force)
        return cli_fail(CLI_RUNTIME, CMD, "%s exists: not replacing a keypair that may be in "
                        "use. Choose another NAME, or give --force to replace it.", path);
    return CLI_OK;
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
    char secret[4096];
    snprintf(secret, sizeof secret, "%s_secret", argv[optind]);
    part_t pub = {.name = argv[optind]}, sec = {.name = secret};
    int rc = may_write(pub.name, force);
    if (rc == CLI_OK)
        rc = may_write(sec.name, force);
    if (rc != CLI_OK)
        return rc;
    zcert_t *cert = zcert_new();
    rc = cert ? write_pair(cert, &pub, &sec) : cli_fail(CLI_RUNTIME, CMD, "out of memory");
    zcert_destroy(&cert);
    return rc;
}
