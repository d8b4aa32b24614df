/*
 * reader.c - a command's pipe read into lines (see reader.h). The pipes are
 * non-blocking and read only when poll says so, so one chatty command cannot
 * hold up the loop.
 */
#include "reader.h"
#include "fd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READER_PASS_LINES 1000      /* lines, reads, bytes a read: reader_drain's bounds */
#define READER_PASS_READS 16
#define READER_READ       16384

int reader_init(reader_t *self)
{
    *self = (reader_t){.fd = -1, .buf = malloc(READER_BUF)};
    return self->buf ? 0 : -1;
}

void reader_reset(reader_t *self)
{
    fd_close(&self->fd);
    free(self->buf);
    *self = (reader_t){.fd = -1};
}

/* Pass one line on; one longer than READER_LINE_MAX goes out cut to it. 1,
 * the lines passed on. */
static unsigned emit(reader_t *rd, reader_line_fn *fn, void *arg, char *line, size_t n)
{
    bool whole = n <= READER_LINE_MAX;
    if (!whole)
        n = READER_LINE_MAX;
    line[n] = '\0';
    fn(arg, ++rd->lineno, line, n, whole);
    return 1;
}

/* Hand each complete line (without its newline or CR) to fn. A full buffer
 * without a newline is a line too long: it goes out cut, and the rest of it
 * is skipped. The lines handed out. */
static unsigned split_lines(reader_t *rd, reader_line_fn *fn, void *arg, bool eof)
{
    size_t start = 0;
    unsigned lines = 0;
    char *nl;
    while ((nl = memchr(rd->buf + start, '\n', rd->len - start))) {
        size_t end = (size_t)(nl - rd->buf);
        size_t n = end - start - (end > start && rd->buf[end - 1] == '\r');
        if (!rd->skipping)
            lines += emit(rd, fn, arg, rd->buf + start, n);
        rd->skipping = false;
        start = end + 1;
    }
    memmove(rd->buf, rd->buf + start, rd->len - start);
    rd->len -= start;
    bool full = rd->len == READER_BUF;
    if ((full || (eof && rd->len)) && !rd->skipping) {
        lines += emit(rd, fn, arg, rd->buf, rd->len);
        rd->skipping = !eof;
    }
    if (full || eof)
        rd->len = 0;
    return lines;
}

/* Each call stops after READER_PASS_LINES lines, or READER_PASS_READS reads
 * of at most READER_READ bytes: what a flooding command costs the loop in
 * one pass is bounded by lines (each one a JSON parse, a record), so the
 * loop gets back to the broker, whose heartbeats it owes, in time. */
void reader_drain(reader_t *self, reader_line_fn *fn, void *arg)
{
    unsigned lines = 0;
    for (int rounds = 0; self->fd >= 0 && rounds < READER_PASS_READS &&
                         lines < READER_PASS_LINES; rounds++) {
        size_t want = READER_BUF - self->len;
        ssize_t n = read(self->fd, self->buf + self->len, want < READER_READ ? want : READER_READ);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n > 0) {
            self->len += (size_t)n;
            lines += split_lines(self, fn, arg, false);
            continue;
        }
        split_lines(self, fn, arg, true);       /* EOF or error: the last line */
        fd_close(&self->fd);
    }
}

void reader_finish(reader_t *self, reader_line_fn *fn, void *arg)
{
    reader_drain(self, fn, arg);
    if (self->fd < 0)
        return;
    split_lines(self, fn, arg, true);
    fd_close(&self->fd);
}
