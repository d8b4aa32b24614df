/*
 * keyfile.h - the rule for CURVE secret key files, one for the broker (its
 * server_cert's NAME_secret) and for libminqing's clients (a worker's or the
 * CLI's NAME_secret), so that the two can never judge a file differently
 * (PROTOCOL.md section 10). A secret key that other users can read may have
 * been copied by any of them: it is refused, not used with a warning nobody
 * reads.
 */
#ifndef MQ_KEYFILE_H
#define MQ_KEYFILE_H

#include <stddef.h>

/* Whether the secret key file at path is its owner's alone: 0 when its mode
 * gives group and others nothing, and when it cannot be stat'ed (the
 * caller's own load then says it is missing); -1 when it does, with
 * "PATH: ... (mode 644) ...: chmod 600 PATH" in err. */
int keyfile_private(const char *path, char *err, size_t errlen);

#endif
