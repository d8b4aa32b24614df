/*
 * jsonerr.h - what is wrong with a JSON text, without quoting it.
 *
 * jansson's error text quotes the input near the fault ("near '13812345678'"),
 * and a case's JSON holds a resident's phone and name: neither the adapter's
 * log nor the CLI's messages (often captured to files) may repeat it. Header
 * only: the adapter and the CLI share it, and neither links the other.
 */
#ifndef MQ_JSONERR_H
#define MQ_JSONERR_H

#include <jansson.h>

/* jansson's error, by its code: "truncated JSON", "a duplicate key" ... */
static inline const char *jsonerr_problem(const json_error_t *e)
{
    switch (json_error_code(e)) {
    case json_error_invalid_utf8: return "invalid UTF-8";
    case json_error_premature_end_of_input: return "truncated JSON";
    case json_error_end_of_input_expected: return "text after the JSON value";
    case json_error_null_character: return "a NUL character";
    case json_error_duplicate_key: return "a duplicate key";
    case json_error_numeric_overflow: return "a number out of range";
    default: return "invalid JSON";
    }
}

#endif
