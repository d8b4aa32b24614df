/*
 * reader.h - a pipe from a command, read into whole lines. A command may
 * print anything: a line that does not fit the buffer goes out cut, and the
 * rest of it is skipped, so that no output can make the adapter grow.
 */
#ifndef ADAPTER_READER_H
#define ADAPTER_READER_H

#include <stdbool.h>
#include <stddef.h>

#define READER_LINE_MAX 65535   /* the longest line passed whole, without its newline */
/* The buffer holds such a line with its "\r\n": only then can a line be told
 * from a longer one that has no newline yet. */
#define READER_BUF (READER_LINE_MAX + 2)

typedef struct {
    int fd;                     /* -1: closed */
    unsigned lineno;
    bool skipping;              /* dropping the rest of an overlong line */
    size_t len;
    char *buf;                  /* READER_BUF bytes while in use */
} reader_t;

/* Called with each line, NUL-terminated, without its newline or CR; whole
 * is false for a line longer than READER_LINE_MAX, cut to that size. */
typedef void reader_line_fn(void *arg, unsigned lineno, char *line, size_t len, bool whole);

/* A closed reader with its buffer; 0, or -1 when out of memory. */
int reader_init(reader_t *self);
/* Close its pipe and free its buffer. */
void reader_reset(reader_t *self);
/* Read what the pipe has now (at most about 1000 lines per call, to be fair
 * to the other pipes and the broker), each line to fn; at end of file the
 * pipe is closed. */
void reader_drain(reader_t *self, reader_line_fn *fn, void *arg);
/* The end of the pipe, though a writer may still hold it (a process the
 * command left running): what it holds now is read as by reader_drain, a
 * last line without its newline passed on as at end of file, and the pipe
 * closed. */
void reader_finish(reader_t *self, reader_line_fn *fn, void *arg);

#endif
