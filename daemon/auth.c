/*
 * auth.c - CURVE allowlists and the ZAP handler (see auth.h).
 *
 * A small handler of our own rather than CZMQ's zauth actor: zauth runs in a
 * thread and keys one allowlist, while the broker needs a role per key and
 * answers ZAP from its own poll loop. CZMQ is still used for what it is good
 * at here: reading and writing zcert key files.
 */
#include "auth.h"
#include "keyfile.h"
#include "utf8.h"

#include <czmq.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Without it libzmq 4.3 admits every key when no ZAP handler is bound (the
 * "Stonehouse" fallback of RFC 27): with it, no handler means no handshake.
 * zmq.h declares it only with ZMQ_BUILD_DRAFT_API, which would also change
 * CZMQ's view of the API; the library takes it all the same (Debian 12's
 * 4.3.4 does; its number is fixed since 4.2.3), and one that does not fails
 * auth_secure, so the broker does not start unenforced. */
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93
#endif

typedef struct {
    char key[41];               /* Z85 public key */
    auth_role_t role;
    char dept[33];
    char name[41];              /* its file's name, for the audit trail */
} entry_t;

struct auth_t {
    zcert_t *server;            /* NULL when no server_cert is configured */
    bool plain_ok;
    void *zap;                  /* REP on inproc://zeromq.zap.01, or NULL */
    void *ctx;
    entry_t *keys;
    size_t nkeys;
    bool local_on;              /* [local_users] given: ipc:// peers held to their roles */
    entry_t *locals;            /* keyed LOCAL_PREFIX UID */
    size_t nlocals;
    entry_t admins[2];          /* root and the broker's own user, unless listed */
    uid_t uid;                  /* the broker's own */
    bool plain_tcp;             /* a plain tcp:// endpoint is bound (until a restart) */
    bool narrowed;              /* the last reload took a key or a user off (auth_narrowed) */
};

/* The user id of an ipc:// peer: not a key, but its Unix user's number. */
#define LOCAL_PREFIX "unix:"
#define DOMAIN_EVENTS "local-events"    /* the ZAP domain of the ipc:// event stream */


/* ---- allowlists ------------------------------------------------------ */

/* The key's name in the audit trail: its file's, each ASCII character but
 * a-z A-Z 0-9 . _ - made _, and UTF-8 kept (民政局值班台). A name longer
 * than the field is cut and ends in ~ and the key's first 8 characters, so
 * that two long names alike to the cut still tell their keys apart. */
static void name_entry(entry_t *e, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t room = sizeof e->name - 1, o = 0;
    if (strlen(base) > room)
        room -= 9;                  /* "~" and 8 of the key */
    for (size_t i = 0; base[i];) {
        unsigned char c = (unsigned char)base[i];
        size_t k = c < 0x80 ? 1 : utf8_seqlen(c);
        if (!utf8_valid(base + i, k, NULL))
            k = 1, c = '_';
        if (o + k > room)
            break;
        if (k == 1)
            e->name[o++] = isalnum(c) || c == '.' || c == '_' || c == '-' ? (char)c : '_';
        else
            memcpy(e->name + o, base + i, k), o += k;
        i += k;
    }
    if (strlen(base) > sizeof e->name - 1)
        o += (size_t)snprintf(e->name + o, sizeof e->name - o, "~%.8s", e->key);
    e->name[o] = '\0';
}

static int add_key(entry_t **v, size_t *n, const char *path, auth_role_t role, const char *dept)
{
    zcert_t *cert = zcert_load(path);
    if (!cert)
        return -1;
    entry_t *nv = realloc(*v, (*n + 1) * sizeof *nv);
    if (!nv) {
        zcert_destroy(&cert);
        return -1;
    }
    *v = nv;
    entry_t *e = &(*v)[(*n)++];
    snprintf(e->key, sizeof e->key, "%s", zcert_public_txt(cert));
    e->role = role;
    snprintf(e->dept, sizeof e->dept, "%s", dept ? dept : "");
    name_entry(e, path);
    zcert_destroy(&cert);
    return 0;
}

/* Anyone who may write a key list's directory, or a key in it, can admit a
 * key of their own: refused, as a secret key others can read is refused. */
static int guarded(const char *path, const struct stat *st, char *err, size_t errlen)
{
    if (!(st->st_mode & 022))
        return 0;
    snprintf(err, errlen, "%s: group or others may write here (mode %03o) and add a key: "
             "chmod go-w it", path, (unsigned)(st->st_mode & 0777));
    return -1;
}

/* A directory that may be missing (a list nobody of its role is on): 1 when
 * it is, 0 when it is there and guarded, -1 with err otherwise. */
static int optional_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    int rc = stat(dir, &st);
    if (rc != 0 && errno == ENOENT)
        return 1;
    const char *why = rc != 0 ? strerror(errno) : !S_ISDIR(st.st_mode) ? strerror(ENOTDIR) : NULL;
    if (why) {
        /* a list that exists but cannot be read must not empty the allowlist
         * (a reload would cut every worker off): refuse, say why */
        snprintf(err, errlen, "%s: cannot read this key list: %s", dir, why);
        return -1;
    }
    return guarded(dir, &st, err, errlen);
}

/* Every public certificate in dir (files named *_secret are skipped). */
static int load_dir(entry_t **v, size_t *n, const char *dir, auth_role_t role, const char *dept,
                    char *err, size_t errlen)
{
    int there = optional_dir(dir, err, errlen);
    if (there != 0)
        return there < 0 ? -1 : 0;  /* no such list: nobody of that role */
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(err, errlen, "%s: cannot read this key list: %s", dir, strerror(errno));
        return -1;
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.' || (len > 7 && strcmp(de->d_name + len - 7, "_secret") == 0))
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        if (guarded(path, &st, err, errlen))
            rc = -1;
        else if (add_key(v, n, path, role, dept) != 0) {
            snprintf(err, errlen, "%s: not a certificate (make one with minqing keygen)", path);
            rc = -1;
        }
    }
    closedir(d);
    return rc;
}

/* The keys directory itself must be there: a mistyped path would otherwise
 * read as empty lists, and the broker would start and admit nobody. */
static int check_keys_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    const char *why = stat(dir, &st) != 0 ? strerror(errno)
                      : !S_ISDIR(st.st_mode) ? strerror(ENOTDIR) : NULL;
    if (why) {
        snprintf(err, errlen, "%s: %s: keys must name the directory of the key lists "
                 "(intake/, admin/, workers/)", dir, why);
        return -1;
    }
    return guarded(dir, &st, err, errlen);
}

static int load_lists(const config_t *cfg, entry_t **v, size_t *n, char *err, size_t errlen)
{
    *v = NULL, *n = 0;
    if (!cfg->keys_dir)
        return 0;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/workers", cfg->keys_dir);
    if (check_keys_dir(cfg->keys_dir, err, errlen) || optional_dir(dir, err, errlen) < 0)
        return -1;
    snprintf(dir, sizeof dir, "%s/intake", cfg->keys_dir);
    if (load_dir(v, n, dir, AUTH_INTAKE, NULL, err, errlen))
        return -1;
    snprintf(dir, sizeof dir, "%s/admin", cfg->keys_dir);
    if (load_dir(v, n, dir, AUTH_ADMIN, NULL, err, errlen))
        return -1;
    for (size_t i = 0; i < cfg->ndepts; i++) {
        snprintf(dir, sizeof dir, "%s/workers/%s", cfg->keys_dir, cfg->depts[i].id);
        if (load_dir(v, n, dir, AUTH_WORKER, cfg->depts[i].id, err, errlen))
            return -1;
    }
    return 0;
}

/* ---- local users ------------------------------------------------------ */

/* A local admin may do anything, as every local peer may without the
 * section: also work for any department, so that the workers left running as
 * the broker's user keep working while others get users of their own. */
static const auth_role_t local_roles[] = {
    [CONFIG_LOCAL_ADMIN] = AUTH_LOCAL, [CONFIG_LOCAL_INTAKE] = AUTH_INTAKE,
    [CONFIG_LOCAL_WORKER] = AUTH_WORKER,
};

static void local_entry(entry_t *e, uid_t uid, auth_role_t role, const char *dept,
                        const char *user)
{
    snprintf(e->key, sizeof e->key, LOCAL_PREFIX "%u", (unsigned)uid);
    e->role = role;
    snprintf(e->dept, sizeof e->dept, "%s", dept ? dept : "");
    /* ':' is never in a key's name, so the audit trail tells the two apart */
    snprintf(e->name, sizeof e->name, LOCAL_PREFIX "%s", user);
}

/* Whether uid is one of this process's user namespace (/proc/self/uid_map):
 * under systemd's PrivateUsers=yes only root and the broker's own user are,
 * and the kernel reports every other peer as the overflow uid (65534), so a
 * role given to another user would never apply, or apply to all of them. */
static int uid_mapped(uid_t uid, char *err, size_t errlen)
{
    FILE *f = fopen("/proc/self/uid_map", "r");
    if (!f) {
        snprintf(err, errlen, "/proc/self/uid_map: %s: cannot tell which Unix users the "
                 "broker can see", strerror(errno));
        return -1;
    }
    unsigned long in, out, count;
    bool found = false;
    for (int i = 0; i < 340 && !found && fscanf(f, "%lu %lu %lu", &in, &out, &count) == 3; i++)
        found = uid >= in && uid - in < count;
    fclose(f);
    return found ? 1 : 0;
}

/* [local_users] as entries, and root and the broker's own user as admins
 * where the list does not name them: both can read the database anyway, and
 * locking them out would only lock out the operator's CLI. 0, or -1 with err. */
static int load_locals(auth_t *self, const config_t *cfg, char *err, size_t errlen)
{
    for (size_t i = 0; i < cfg->nlocal_users; i++) {
        const config_local_user_t *u = &cfg->local_users[i];
        int mapped = uid_mapped(u->uid, err, errlen);
        if (mapped < 0)
            return -1;
        if (!mapped) {
            snprintf(err, errlen, "[local_users] %s (uid %u): the broker cannot see this "
                     "user: it runs in a user namespace of its own (PrivateUsers=yes in "
                     "minqingd.service), where every other user's connection looks alike; "
                     "give it a drop-in with PrivateUsers=no (docs/operations.md, Endpoints)",
                     u->user, (unsigned)u->uid);
            return -1;
        }
    }
    entry_t *v = cfg->nlocal_users ? calloc(cfg->nlocal_users, sizeof *v) : NULL;
    if (cfg->nlocal_users && !v) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < cfg->nlocal_users; i++) {
        const config_local_user_t *u = &cfg->local_users[i];
        local_entry(&v[i], u->uid, local_roles[u->role],
                    u->role == CONFIG_LOCAL_WORKER ? cfg->depts[u->dept].id : NULL, u->user);
    }
    free(self->locals);
    self->locals = v, self->nlocals = cfg->nlocal_users;
    self->local_on = cfg->local_users_on;
    uid_t me = self->uid = geteuid();
    struct passwd *pw = getpwuid(me);
    local_entry(&self->admins[0], 0, AUTH_LOCAL, NULL, "root");
    local_entry(&self->admins[1], me, AUTH_LOCAL, NULL, pw ? pw->pw_name : "broker");
    return 0;
}

int auth_locals_check(const config_t *cfg, char *err, size_t errlen)
{
    auth_t probe = {0};
    int rc = load_locals(&probe, cfg, err, errlen);
    free(probe.locals);
    return rc;
}

bool auth_local_on(const auth_t *self)
{
    return self->local_on;
}

bool auth_holds_peers(const auth_t *self)
{
    return self->server || self->local_on;
}

/* The uid in an ipc:// peer's address: libzmq gives it as
 * "localhost:UID:GID:PID", the numbers from SO_PEERCRED, the kernel's word
 * and not the peer's (a tcp:// peer's is an IP address, an IPv6 one with
 * colons of its own). false if address is not such. */
static bool address_uid(const char *address, uid_t *uid)
{
    const char *host = "localhost:";
    if (!address || strncmp(address, host, strlen(host)) != 0)
        return false;
    const char *p = address + strlen(host);
    unsigned long v[3];
    for (int i = 0; i < 3; i++) {
        if (*p < '0' || *p > '9')
            return false;
        char *end;
        v[i] = strtoul(p, &end, 10);
        if (*end != (i < 2 ? ':' : '\0') || v[i] > UINT32_MAX - 1)
            return false;
        p = end + 1;
    }
    *uid = (uid_t)v[0];
    return true;
}

/* A "unix:UID" user id's uid; false if it is not one. */
static bool id_uid(const char *user_id, uid_t *uid)
{
    char *end;
    size_t n = strlen(LOCAL_PREFIX);
    if (strncmp(user_id, LOCAL_PREFIX, n) != 0 || user_id[n] < '0' || user_id[n] > '9')
        return false;
    unsigned long v = strtoul(user_id + n, &end, 10);
    *uid = (uid_t)v;
    return !*end && v < UINT32_MAX;
}

/* Root and the broker's own user, who may do anything without the section
 * (the file's mode lets in no one else), and are admins by default with it. */
static bool trusted_uid(const auth_t *self, uid_t uid)
{
    return uid == 0 || uid == self->uid;
}

bool auth_is_user(const char *user_id)
{
    uid_t uid;
    return user_id && id_uid(user_id, &uid);
}

bool auth_by_connection(const auth_t *self, const char *user_id)
{
    uid_t uid;
    return !user_id || !*user_id || (!self->local_on && id_uid(user_id, &uid));
}

/* ---- lifecycle ------------------------------------------------------- */

static int load_server(auth_t *self, const char *path, char *err, size_t errlen)
{
    char secret[4096];
    struct stat st;
    snprintf(secret, sizeof secret, "%s_secret", path);
    if (stat(secret, &st) != 0) {
        snprintf(err, errlen, "%s: cannot read the server's secret key (make it with "
                 "minqing keygen)", secret);
        return -1;
    }
    if (keyfile_private(secret, err, errlen))
        return -1;
    /* a keypair made by root is 0600 root's: the broker's user cannot read it */
    const char *unreadable = access(path, R_OK) != 0     ? path
                             : access(secret, R_OK) != 0 ? secret : NULL;
    if (unreadable) {
        snprintf(err, errlen, "%s: %s (the broker runs as its own user: chown it to that "
                 "user, minqing when installed)", unreadable, strerror(errno));
        return -1;
    }
    self->server = zcert_load(path);
    if (!self->server || !strcmp(zcert_secret_txt(self->server),
                                 "0000000000000000000000000000000000000000")) {
        snprintf(err, errlen, "%s: not a certificate with its secret key", path);
        return -1;
    }
    return 0;
}

auth_t *auth_new(void *ctx, const config_t *cfg, char *err, size_t errlen)
{
    auth_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    self->ctx = ctx;
    self->plain_ok = cfg->allow_plain_tcp;
    if ((cfg->server_cert && load_server(self, cfg->server_cert, err, errlen)) ||
        load_lists(cfg, &self->keys, &self->nkeys, err, errlen)) {
        auth_destroy(&self);
        return NULL;
    }
    if (load_locals(self, cfg, err, errlen)) {
        auth_destroy(&self);
        return NULL;
    }
    return self;
}

void auth_destroy(auth_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    auth_t *self = *self_p;
    if (self->zap)
        zmq_close(self->zap);
    zcert_destroy(&self->server);
    free(self->keys);
    free(self->locals);
    free(self);
    *self_p = NULL;
}

/* Whether the event stream admits the peer with this user id (a key, or a
 * Unix user, "unix:UID"): what its ZAP answer would be now. */
static bool follows(const auth_t *self, const char *user_id)
{
    const char *dept;
    return auth_role(self, user_id, &dept) != AUTH_REVOKED;
}

/* Whether a peer admitted before (old keys, old users) is not now. */
static bool lost_any(const auth_t *self, const entry_t *keys, size_t nkeys, const entry_t *users,
                     size_t nusers, bool users_on)
{
    for (size_t i = 0; i < nkeys; i++)
        if (!follows(self, keys[i].key))
            return true;
    for (size_t i = 0; users_on && i < nusers; i++)
        if (!follows(self, users[i].key))
            return true;
    return false;
}

int auth_reload(auth_t *self, const config_t *cfg, char *err, size_t errlen)
{
    entry_t *old_users = self->locals;
    size_t nold_users = self->nlocals;
    bool old_on = self->local_on;
    self->narrowed = false;
    self->locals = NULL, self->nlocals = 0;
    /* the users first, and whatever becomes of the key lists: a user taken
     * out of [local_users] must lose its role with this reload */
    if (load_locals(self, cfg, err, errlen)) {
        self->locals = old_users, self->nlocals = nold_users;
        return -1;
    }
    entry_t *v;
    size_t n;
    bool lists_ok = load_lists(cfg, &v, &n, err, errlen) == 0;
    entry_t *gone = lists_ok ? self->keys : NULL;   /* kept on failure: nothing lost */
    size_t ngone = lists_ok ? self->nkeys : 0;
    if (lists_ok)
        self->keys = v, self->nkeys = n;
    else
        free(v);
    self->narrowed = lost_any(self, gone, ngone, old_users, nold_users, old_on);
    free(gone);
    free(old_users);
    return lists_ok ? 0 : -1;
}

bool auth_narrowed(const auth_t *self)
{
    return self->narrowed;
}

size_t auth_keys(const auth_t *self)
{
    return self->nkeys;
}

/* ---- sockets --------------------------------------------------------- */

/* Plain TCP carries personal data in clear: only where the config says so. */
static int plain_tcp_refused(bool has_server, bool plain_ok, const char *endpoint, char *err,
                             size_t errlen)
{
    if (strncmp(endpoint, "tcp://", 6) != 0 || has_server || plain_ok)
        return 0;                   /* with plain_ok the broker warns at every start */
    snprintf(err, errlen, "%s: a tcp:// endpoint needs CURVE: set server_cert and keys "
             "in [broker] (or allow_plain_tcp = yes, not recommended)", endpoint);
    return -1;
}

int auth_lists_check(const config_t *cfg, char *err, size_t errlen)
{
    entry_t *v;
    size_t n;
    int rc = load_lists(cfg, &v, &n, err, errlen);
    free(v);
    return rc;
}

int auth_check(const config_t *cfg, const char **key, char *err, size_t errlen)
{
    static const char *const names[] = {"intake", "workers", "events"};
    const char *eps[] = {cfg->intake_endpoint, cfg->worker_endpoint, cfg->events_endpoint};
    auth_t probe = {.plain_ok = cfg->allow_plain_tcp};
    /* the key lists first: what a reload changes most, said as at start */
    *key = "keys";
    int rc = auth_lists_check(cfg, err, errlen);
    if (rc == 0 && cfg->server_cert) {
        *key = "server_cert";
        rc = load_server(&probe, cfg->server_cert, err, errlen);
    }
    for (size_t i = 0; i < 3 && rc == 0; i++) {
        *key = names[i];
        rc = plain_tcp_refused(probe.server != NULL, probe.plain_ok, eps[i], err, errlen);
        if (rc == 0 && cfg->local_users_on && !probe.server && !strncmp(eps[i], "tcp://", 6)) {
            snprintf(err, errlen, "%s: plain tcp:// (allow_plain_tcp) beside [local_users]: "
                     "a peer there has no Unix user to hold it to, and would have every "
                     "role; give it CURVE (server_cert) or make it ipc://", eps[i]);
            rc = -1;
        }
    }
    zcert_destroy(&probe.server);
    if (rc == 0) {
        *key = "local_users";       /* no [broker] line: said as "FILE: what" */
        rc = auth_locals_check(cfg, err, errlen);
    }
    return rc;
}

int auth_check_file(const config_t *cfg, char *err, size_t errlen)
{
    char what[1024];
    const char *key;
    if (auth_check(cfg, &key, what, sizeof what) == 0)
        return 0;
    int line = config_key_line(cfg, key);
    if (line)
        snprintf(err, errlen, "%s:%d: %s", cfg->path, line, what);
    else
        snprintf(err, errlen, "%s: %s", cfg->path, what);
    return -1;
}

int auth_reload_check(const auth_t *self, const config_t *fresh, char *err, size_t errlen)
{
    if (auth_check_file(fresh, err, errlen))
        return -1;
    if (fresh->local_users_on && self->plain_tcp) {
        snprintf(err, errlen, "%s: [local_users], but this broker serves plain tcp:// "
                 "(allow_plain_tcp, endpoints change at a restart), where a peer has no Unix "
                 "user to hold it to and would keep every role: restart the broker on the "
                 "new endpoints instead", fresh->path);
        return -1;
    }
    if (!self->server || fresh->keys_dir)
        return 0;                   /* no tcp:// endpoint is a CURVE server */
    snprintf(err, errlen, "%s: keys is missing, but this broker serves CURVE (server_cert, "
             "read at start): without the key lists no client or worker would be admitted, "
             "and every connected one would be cut off. Put keys back, or restart the broker "
             "to run without CURVE", fresh->path);
    return -1;
}

/* The ZAP handler: every socket of this context that asks ZAP asks it. */
static int zap_bind(auth_t *self, char *err, size_t errlen)
{
    if (self->zap)
        return 0;
    self->zap = zmq_socket(self->ctx, ZMQ_REP);
    if (!self->zap || zmq_bind(self->zap, "inproc://zeromq.zap.01") != 0) {
        snprintf(err, errlen, "ZAP handler: %s", zmq_strerror(errno));
        return -1;
    }
    return 0;
}

/* Make sock's handshakes wait for the handler's yes in ZAP domain `domain`. */
static int zap_enforce(void *sock, const char *domain, const char *endpoint, char *err,
                       size_t errlen)
{
    int on = 1;
    if (zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) ||
        zmq_setsockopt(sock, ZMQ_ZAP_ENFORCE_DOMAIN, &on, sizeof on)) {
        snprintf(err, errlen, "%s: ZAP: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    return 0;
}

int auth_secure(auth_t *self, void *sock, const char *endpoint, char *err, size_t errlen)
{
    if (plain_tcp_refused(self->server != NULL, self->plain_ok, endpoint, err, errlen))
        return -1;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return 0;
    if (!self->server) {
        self->plain_tcp = true;     /* allow_plain_tcp: no user, no key there */
        return 0;
    }
    if (zap_bind(self, err, errlen))
        return -1;
    int on = 1;
    zcert_apply(self->server, sock);
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &on, sizeof on)) {
        snprintf(err, errlen, "%s: CURVE: %s", endpoint, zmq_strerror(errno));
        return -1;
    }
    return zap_enforce(sock, "minqing", endpoint, err, errlen);
}

int auth_guard_local(auth_t *self, void *sock, const char *endpoint, bool events, char *err,
                     size_t errlen)
{
    if (strncmp(endpoint, "ipc://", 6) != 0)
        return 0;
    if (zap_bind(self, err, errlen))
        return -1;
    return zap_enforce(sock, events ? DOMAIN_EVENTS : "local", endpoint, err, errlen);
}

void *auth_socket(auth_t *self)
{
    return self->zap;
}

static const entry_t *find_in(const entry_t *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0)
            return &v[i];
    return NULL;
}

static const entry_t *find(const auth_t *self, const char *key)
{
    uid_t uid;
    if (!id_uid(key, &uid))
        return find_in(self->keys, self->nkeys, key);
    const entry_t *e = find_in(self->locals, self->nlocals, key);
    return e ? e : find_in(self->admins, 2, key);
}

/* The answer to a ZAP request over ipc:// (mechanism NULL): every peer gets
 * its Unix user as its user id, which libzmq then puts on each of its
 * messages in place of any User-Id the peer itself announced, and which
 * auth_role judges per message (a refusal there is an ERROR the peer can
 * read). The event stream (domain DOMAIN_EVENTS) admits only the users who
 * may follow it: nothing a peer sends there could be refused instead. */
static bool local_answer(const auth_t *self, const char *domain, const char *address,
                         char *user_id, size_t len)
{
    uid_t uid;
    if (!address_uid(address, &uid))
        return !self->local_on;     /* no SO_PEERCRED: local as before, unless held */
    snprintf(user_id, len, LOCAL_PREFIX "%u", (unsigned)uid);
    if (!domain || strcmp(domain, DOMAIN_EVENTS) != 0)
        return true;
    const char *dept;
    return auth_role(self, user_id, &dept) != AUTH_REVOKED;
}

/* One ZAP request (RFC 27): version, request id, domain, address, identity,
 * mechanism, credentials; the reply's user id is the client's Z85 key, or
 * on ipc:// its Unix user ("unix:UID"). */
static void serve_one(auth_t *self)
{
    zmsg_t *req = zmsg_recv_nowait(self->zap);
    if (!req)
        return;
    char *version = zmsg_popstr(req), *id = zmsg_popstr(req);
    char *domain = zmsg_popstr(req), *address = zmsg_popstr(req);
    free(zmsg_popstr(req));         /* identity */
    char *mech = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    char user[41] = "";
    bool ok;
    if (mech && strcmp(mech, "NULL") == 0) {
        ok = local_answer(self, domain, address, user, sizeof user);
    } else {
        if (mech && strcmp(mech, "CURVE") == 0 && cred && zframe_size(cred) == 32)
            zmq_z85_encode(user, zframe_data(cred), 32);
        ok = user[0] && find(self, user);
    }
    zmsg_t *rep = zmsg_new();
    zmsg_addstr(rep, "1.0");
    zmsg_addstr(rep, id ? id : "");
    zmsg_addstr(rep, ok ? "200" : "400");
    zmsg_addstr(rep, ok ? "OK" : "not allowed");
    zmsg_addstr(rep, ok ? user : "");
    zmsg_addmem(rep, "", 0);
    zmsg_send(&rep, self->zap);
    free(version), free(id), free(domain), free(address), free(mech);
    zframe_destroy(&cred);
    zmsg_destroy(&req);
}

void auth_serve(auth_t *self)
{
    for (int i = 0; self->zap && i < 64; i++) {
        int events = 0;
        size_t len = sizeof events;
        if (zmq_getsockopt(self->zap, ZMQ_EVENTS, &events, &len) || !(events & ZMQ_POLLIN))
            return;
        serve_one(self);
    }
}

const char *auth_name(const auth_t *self, const char *user_id)
{
    uid_t uid;
    if (!user_id || !*user_id || (!self->local_on && id_uid(user_id, &uid)))
        return NULL;            /* no key, or local as without the section */
    const entry_t *e = find(self, user_id);
    return e ? e->name : NULL;
}

auth_role_t auth_role(const auth_t *self, const char *user_id, const char **dept)
{
    *dept = NULL;
    uid_t uid;
    if (!user_id || !*user_id)
        return AUTH_LOCAL;      /* inproc://, or plain tcp:// where the config allows it */
    if (!id_uid(user_id, &uid)) {
        const entry_t *e = find_in(self->keys, self->nkeys, user_id);
        if (!e)
            return AUTH_REVOKED;
        *dept = e->dept;
        return e->role;
    }
    /* without the section only root and the broker's user may connect: any
     * other was let in while it stood, and keeps no trust once it is gone */
    if (!self->local_on)
        return trusted_uid(self, uid) ? AUTH_LOCAL : AUTH_REVOKED;
    const entry_t *e = find(self, user_id);
    if (!e)
        return AUTH_REVOKED;
    *dept = e->dept[0] ? e->dept : NULL;
    return e->role;
}
