/*
 * keyfile.c - the rule for CURVE secret key files (see keyfile.h).
 */
#include "keyfile.h"

#include <stdio.h>
#include <sys/stat.h>

int keyfile_private(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0 || !(st.st_mode & 077))
        return 0;
    snprintf(err, errlen, "%s: this secret key is open to group or others (mode %03o); "
             "refusing to use it: chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
    return -1;
}
