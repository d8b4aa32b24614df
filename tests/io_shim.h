/*
 * io_shim.h - for the tests' SQLite VFS shims: swap an opened file's method
 * table for a copy with some methods replaced, and find the real table again
 * from inside a replaced method. The unix VFS uses one table for databases
 * and WALs, another for rollback journals: a few pairs are kept.
 */
#ifndef MQ_TEST_IO_SHIM_H
#define MQ_TEST_IO_SHIM_H

#include <sqlite3.h>
#include <stddef.h>

#define IO_SHIM_PAIRS 4

typedef struct {
    const sqlite3_io_methods *real;
    sqlite3_io_methods shim;
} io_shim_t;

/* Give f, just opened, the shim copy of its table, made on first sight by
 * edit; SQLITE_CANTOPEN (f closed) when more tables turn up than expected. */
static inline int io_shim_swap(io_shim_t pairs[IO_SHIM_PAIRS], sqlite3_file *f,
                               void (*edit)(sqlite3_io_methods *))
{
    size_t i = 0;
    while (i < IO_SHIM_PAIRS && pairs[i].real && pairs[i].real != f->pMethods)
        i++;
    if (i == IO_SHIM_PAIRS) {
        f->pMethods->xClose(f);
        return SQLITE_CANTOPEN;
    }
    if (!pairs[i].real) {
        pairs[i].real = f->pMethods;
        pairs[i].shim = *f->pMethods;
        edit(&pairs[i].shim);
    }
    f->pMethods = &pairs[i].shim;
    return SQLITE_OK;
}

/* The real method table of a file given a shim copy. */
static inline const sqlite3_io_methods *io_shim_real(const io_shim_t pairs[IO_SHIM_PAIRS],
                                                     const sqlite3_file *f)
{
    size_t i = 0;
    while (&pairs[i].shim != f->pMethods)
        i++;
    return pairs[i].real;
}

#endif
