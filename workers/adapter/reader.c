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

/* Pass one line on; one longer than READER_LINE_MAX goes out cut to it. */
static void emit(reader_t *rd, reader_line_fn *fn, void *arg, char *line, size_t n)
{
    bool whole = n <= READER_LINE_MAX;
    if (!whole)
        n = READER_LINE_MAX;
    line[n] = '\0';
    fn(arg, ++rd->lineno, line, n, whole);
}

/* Hand each complete line (without its newline or CR) to fn. A full buffer
 * without a newline is a line too long: it goes out cut, and the rest of it
 * is skipped. */
static void split_lines(reader_t *rd, reader_line_fn *fn, void *arg, bool eof)
{
    size_t start = 0;
    char *nl;
    while ((nl = memchr(rd->buf + start, '\n', rd->len - start))) {
        size_t end = (size_t)(nl - rd->buf);
        size_t n = end - start - (end > start && rd->buf[end - 1] == '\r');
        if (!rd->skipping)
            emit(rd, fn, arg, rd->buf + start, n);
        rd->skipping = false;
        start = end + 1;
    }
    memmove(rd->buf, rd->buf + start, rd->len - start);
    rd->len -= start;
    bool full = rd->len == READER_BUF;
    if ((full || (eof && rd->len)) && !rd->skipping) {
        emit(rd, fn, arg, rd->buf, rd->len);
        rd->skipping = !eof;
    }
    if (full || eof)
        rd->len = 0;
}

void reader_drain(reader_t *self, reader_line_fn *fn, void *arg)
{
    for (int rounds = 0; self->fd >= 0 && rounds < 16; rounds++) {
        ssize_t n = read(self->fd, self->buf + self->len, READER_BUF - self->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n > 0) {
            self->len += (size_t)n;
            split_lines(self, fn, arg, false);
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
