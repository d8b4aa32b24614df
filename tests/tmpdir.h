/*
 * tmpdir.h - the unit tests' temporary directories: each test that needs a
 * database makes one with mkdtemp and removes it, files and all, in its
 * teardown. Flat: the tests put no subdirectories there.
 */
#ifndef MQ_TEST_TMPDIR_H
#define MQ_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Remove dir and the files in it; quietly, as a teardown must. */
static inline void tmpdir_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    closedir(d);
    rmdir(dir);
}

#endif
