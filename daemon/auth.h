/*
 * auth.h - who may talk to the broker. On tcp:// endpoints the sockets are
 * CURVE servers and this module is their ZAP handler (RFC 27): a peer gets in
 * only with a public key on an allowlist, and the key, not anything the peer
 * claims, decides its role: intake client, admin, or worker of one department.
 * The role is looked up again for every message, so removing a key and
 * reloading shuts a connected peer out at once. Keys are CZMQ zcert files
 * (`minqing keygen`). ipc:// endpoints carry no key: without [local_users]
 * file permissions alone decide, and their peers are trusted as local; with
 * it, a peer's Unix user (SO_PEERCRED, as libzmq reports it) takes the place
 * of the key, looked up the same way ("unix:UID").
 */
#ifndef MQ_AUTH_H
#define MQ_AUTH_H

#include "config.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    AUTH_LOCAL,         /* ipc:// or inproc://: no key, file permissions decide */
    AUTH_INTAKE,        /* may SUBMIT and FEEDBACK */
    AUTH_ADMIN,         /* may do anything on the intake endpoint */
    AUTH_WORKER,        /* a worker of one department */
    AUTH_REVOKED,       /* a key no longer on any list */
} auth_role_t;

typedef struct auth_t auth_t;

/* Load the server certificate and the allowlists of cfg and start the ZAP
 * handler on ctx. NULL on error (unreadable key, a secret key open to group
 * or others, a key list they may write, ...), with the reason in err. */
auth_t *auth_new(void *ctx, const config_t *cfg, char *err, size_t errlen);
/* Stop the handler and free everything; *self_p = NULL. */
void auth_destroy(auth_t **self_p);
/* What auth_new and auth_secure would refuse in cfg (keys, the server's
 * secret key, plain TCP), without sockets: for --check-config and the start.
 * On -1, *key is the [broker] key at fault, for its line in the file. */
int auth_check(const config_t *cfg, const char **key, char *err, size_t errlen);
/* auth_check with the problem as "FILE:LINE: what" ("FILE: what" when the
 * key at fault is not in the file), as the start prints it and a reload
 * logs it. 0, or -1 with err. */
int auth_check_file(const config_t *cfg, char *err, size_t errlen);
/* What a reload must refuse in fresh, as "FILE[:LINE]: what": what the next
 * start would refuse (auth_check_file: a reload taking a file that a restart
 * after a crash then refuses leaves the broker down), and a file without
 * keys while this broker serves CURVE: server_cert applies only at a
 * restart, so the broker would go on with empty allowlists and cut off
 * every key. 0, or -1 with err. */
int auth_reload_check(const auth_t *self, const config_t *fresh, char *err, size_t errlen);
/* Make sock a CURVE server if endpoint is tcp:// (before it binds), whose
 * handshakes need this module's ZAP handler's yes (ZMQ_ZAP_ENFORCE_DOMAIN: no
 * handler, no admission); refuse plain TCP unless the config allows it. 0, or
 * -1 with the reason in err. */
int auth_secure(auth_t *self, void *sock, const char *endpoint, char *err, size_t errlen);
/* Make an ipc:// sock (before it binds) ask the ZAP handler about each
 * connection: the handler gives the peer its Unix user (SO_PEERCRED) as its
 * user id, "unix:UID", judged per message by auth_role. On the event stream
 * (`events`), where no message of the peer's arrives to be refused, it
 * refuses at the handshake the users auth_role would refuse. Nothing for
 * other transports. 0, or -1 with err. */
int auth_guard_local(auth_t *self, void *sock, const char *endpoint, bool events, char *err,
                     size_t errlen);
/* What [local_users] of cfg would refuse at a start or reload: a user the
 * broker cannot see (a user namespace of its own). 0, or -1 with err. */
int auth_locals_check(const config_t *cfg, char *err, size_t errlen);
/* Whether a user id is an ipc:// peer's Unix user ("unix:UID"), not a key. */
bool auth_is_user(const char *user_id);
/* Whether a peer with this user id is counted and trusted by connection, as
 * every ipc:// peer was before [local_users]: no key, or a Unix user while
 * there is no such section (then only root and the broker's user get in). */
bool auth_by_connection(const auth_t *self, const char *user_id);
/* Whether [local_users] holds ipc:// peers to their Unix users' roles. */
bool auth_local_on(const auth_t *self);
/* Whether some peers are held to a key or a Unix user (CURVE, [local_users]):
 * then no connection may take over another's routing id. */
bool auth_holds_peers(const auth_t *self);
/* The ZAP socket, for the broker's poll (NULL when no endpoint asks ZAP). */
void *auth_socket(auth_t *self);
/* Answer the ZAP requests that are waiting. */
void auth_serve(auth_t *self);
/* Whether cfg's allowlists can be read, as auth_reload would read them (so
 * that a reload can be refused whole before anything of it applies): no key
 * list that cannot be read, and none that group or others may write (the
 * keys directory, keys/workers, a list, a key in it): anyone who could write
 * there could admit a key of their own. The keys directory must exist (a
 * mistyped one would admit nobody); lists in it that do not exist admit
 * nobody of their role. 0, or -1 with "PATH: what" in err. */
int auth_lists_check(const config_t *cfg, char *err, size_t errlen);
/* Re-read the allowlists and [local_users] of cfg (the server key stays).
 * 0, or -1 with err (the users are taken all the same, the key lists kept). */
int auth_reload(auth_t *self, const config_t *cfg, char *err, size_t errlen);
/* Whether the last auth_reload took off a key or a Unix user that could
 * follow the event stream: its open connection there must be made again. */
bool auth_narrowed(const auth_t *self);
/* The role of a peer from the User-Id of its message: a key, or "unix:UID"
 * on ipc:// (NULL: no key, local; AUTH_REVOKED: a key or user not listed);
 * for AUTH_WORKER, *dept gets its department id. */
auth_role_t auth_role(const auth_t *self, const char *user_id, const char **dept);
/* The name of the key with this User-Id (its file's name in the lists), for
 * the audit trail; NULL without a key or for one no longer listed. */
const char *auth_name(const auth_t *self, const char *user_id);
/* Allowed keys loaded (for the log). */
size_t auth_keys(const auth_t *self);

#endif
