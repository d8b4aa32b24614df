/*
 * table.c - aligned text tables for a terminal, and terminal-safe text.
 *
 * Chinese names make columns drift when padding counts bytes or code points:
 * a Chinese character takes two columns on a terminal. cli_width counts East
 * Asian wide and fullwidth characters as two, combining marks as none, which
 * is what terminals do for the text minqing shows (names, states, codes).
 *
 * Every cell passes through cli_clean: descriptions and notes come from
 * residents and workers, and an escape sequence in one must not be able to
 * rewrite the operator's terminal.
 */
#include "cli.h"
#include "utf8.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

struct table_t {
    size_t ncols, ncells, cap;
    char **cells;
    table_align_t *align;
};

/* ---- text ------------------------------------------------------------ */

/* Decode one valid UTF-8 sequence of `len` bytes. */
static unsigned decode(const unsigned char *p, size_t len)
{
    if (len == 1)
        return p[0];
    unsigned cp = p[0] & (0x7f >> len);
    for (size_t i = 1; i < len; i++)
        cp = (cp << 6) | (p[i] & 0x3f);
    return cp;
}

static int char_width(unsigned cp)
{
    if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f))
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0x303e) ||
        (cp >= 0x3041 && cp <= 0x33ff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
        (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xa000 && cp <= 0xa4cf) ||
        (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
        (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
        (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
        (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
        return 2;
    return 1;
}

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0 if invalid. */
static size_t valid_seq(const unsigned char *p, size_t n)
{
    size_t len = utf8_seqlen(p[0]);
    size_t chars;
    if (len > n || !utf8_valid((const char *)p, len, &chars) || chars != 1)
        return 0;
    return len;
}

size_t cli_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s), w = 0;
    for (size_t i = 0; i < n;) {
        size_t len = valid_seq(p + i, n - i);
        if (!len) {
            w++, i++;
            continue;
        }
        w += (size_t)char_width(decode(p + i, len));
        i += len;
    }
    return w;
}

/* Characters that must not reach a terminal as they are. */
static bool unsafe(unsigned cp, bool keep_newlines)
{
    if (cp == '\n')
        return !keep_newlines;
    return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);  /* bidi overrides */
}

char *cli_clean(const char *s, bool keep_newlines)
{
    if (!s)
        s = "";
    size_t n = strlen(s);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t len = valid_seq(p + i, n - i);
        if (!len) {
            out[o++] = '?', i++;
            continue;
        }
        unsigned cp = decode(p + i, len);
        if (cp == '\t')
            out[o++] = ' ';
        else if (unsafe(cp, keep_newlines))
            out[o++] = '?';
        else
            memcpy(out + o, p + i, len), o += len;
        i += len;
    }
    out[o] = '\0';
    return out;
}

/* ---- tables ---------------------------------------------------------- */

table_t *table_new(size_t ncols)
{
    table_t *self = calloc(1, sizeof *self);
    if (!self)
        return NULL;
    self->ncols = ncols;
    self->align = calloc(ncols ? ncols : 1, sizeof *self->align);
    if (!self->align) {
        free(self);
        return NULL;
    }
    return self;
}

void table_free(table_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    table_t *self = *self_p;
    for (size_t i = 0; i < self->ncells; i++)
        free(self->cells[i]);
    free(self->cells);
    free(self->align);
    free(self);
    *self_p = NULL;
}

void table_align(table_t *self, size_t col, table_align_t align)
{
    if (col < self->ncols)
        self->align[col] = align;
}

int table_add(table_t *self, const char *cell)
{
    if (self->ncells == self->cap) {
        size_t cap = self->cap ? self->cap * 2 : 64;
        char **v = realloc(self->cells, cap * sizeof *v);
        if (!v)
            return -1;
        self->cells = v, self->cap = cap;
    }
    char *c = cli_clean(cell ? cell : "-", false);
    if (!c)
        return -1;
    self->cells[self->ncells++] = c;
    return 0;
}

int table_addf(table_t *self, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    return table_add(self, buf);
}

size_t table_rows(const table_t *self)
{
    return self->ncols ? (self->ncells + self->ncols - 1) / self->ncols : 0;
}

void table_print(const table_t *self, FILE *out, int indent)
{
    size_t nc = self->ncols;
    if (!nc)
        return;
    size_t *w = calloc(nc, sizeof *w);
    if (!w)
        return;
    for (size_t i = 0; i < self->ncells; i++) {
        size_t cw = cli_width(self->cells[i]);
        if (cw > w[i % nc])
            w[i % nc] = cw;
    }
    char *line = NULL;
    size_t size = 0;
    FILE *row = NULL;
    for (size_t i = 0; i < self->ncells; i++) {
        size_t col = i % nc;
        if (col == 0 && !(row = open_memstream(&line, &size)))
            break;
        size_t pad = w[col] - cli_width(self->cells[i]);
        fprintf(row, "%*s", col == 0 ? indent : 2, "");
        if (self->align[col] == ALIGN_RIGHT)
            fprintf(row, "%*s%s", (int)pad, "", self->cells[i]);
        else
            fprintf(row, "%s%*s", self->cells[i], (int)pad, "");
        if (col == nc - 1 || i == self->ncells - 1) {
            fclose(row);
            row = NULL;
            size_t n = strlen(line);
            while (n && line[n - 1] == ' ')     /* no trailing blanks */
                n--;
            fprintf(out, "%.*s\n", (int)n, line);
            free(line);
            line = NULL;
        }
    }
    free(w);
}
