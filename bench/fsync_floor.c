/*
 * fsync_floor.c - what one durable commit costs this disk, at a steady pace:
 * the other floor under submit->dispatch (bench/README.md). Every durable
 * system in the side-by-side table pays it once per acknowledged write; on a
 * VM its tail (the host's) is most of the paced p99.
 *
 *   build/fsync_floor [DIR [N [RATE]]]   N syncs (10000) at RATE/s (1000),
 *                                         in a 64 MB scratch file in DIR (.)
 *
 * Three lines: fdatasync of a file with nothing to write (the device flush
 * alone), then a 4 kB and a 48 kB overwrite followed by fdatasync: a small
 * commit, and one a little above minqing's average at 1,000 cases/s (42 kB,
 * about 10 pages), to a WAL that has started over, as minqing's does. The
 * file is removed at the end.
 */
#include "floor.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_BYTES (64 << 20)
#define SLOT_BYTES (64 << 10)   /* page-aligned slots; a write of up to 64 kB fits one */
#define SLOTS (FILE_BYTES / SLOT_BYTES)

static int probe(int fd, int n, int rate, int bytes, long long *d)
{
    static char page[SLOT_BYTES];
    memset(page, 'w', sizeof page);
    long long start = floor_now_ns();
    for (int i = 0; i < n; i++) {
        floor_pace(start, i, rate);
        long long t = floor_now_ns();
        if (bytes && pwrite(fd, page, (size_t)bytes, (off_t)(i % SLOTS) * SLOT_BYTES) != bytes)
            return -1;
        if (fdatasync(fd) != 0)
            return -1;
        d[i] = floor_now_ns() - t;
    }
    return 0;
}

/* Written through and synced first, so that the probe measures overwrites:
 * not a growing file, nor fallocate's unwritten extents (whose first write
 * changes the file's metadata too). */
static int fill(int fd)
{
    static char zeros[1 << 20];
    for (off_t off = 0; off < FILE_BYTES; off += (off_t)sizeof zeros)
        if (pwrite(fd, zeros, sizeof zeros, off) != (ssize_t)sizeof zeros)
            return -1;
    return fsync(fd);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : ".";
    int n = argc > 2 ? atoi(argv[2]) : 10000, rate = argc > 3 ? atoi(argv[3]) : 1000;
    if (n < 1000 || rate < 1) {
        fprintf(stderr, "usage: fsync_floor [DIR [N >= 1000 [RATE]]]\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/fsync_floor.XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        perror(path);
        return 1;
    }
    long long *d = malloc((size_t)n * sizeof *d);
    int rc = !d || fill(fd) != 0 ? -1 : 0;
    if (rc)
        perror("fsync_floor");
    const struct { int bytes; const char *what; } runs[] = {
        {0, "fdatasync, nothing written (the flush)"},
        {4096, "4 kB overwrite + fdatasync"},
        {49152, "48 kB overwrite + fdatasync"},
    };
    for (size_t r = 0; r < sizeof runs / sizeof runs[0] && rc == 0; r++) {
        if ((rc = probe(fd, n, rate, runs[r].bytes, d)) != 0)
            perror("fsync_floor");
        else {
            char what[96];
            snprintf(what, sizeof what, "fsync_floor: %d at %d/s, %s", n, rate, runs[r].what);
            floor_report(what, d, n);
        }
    }
    free(d);
    close(fd);
    unlink(path);
    return rc ? 1 : 0;
}
