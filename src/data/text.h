/* Reading line-oriented text data files (src/data/csv_seq.c, tokens.c).
 * Internal to src/data/. */
#ifndef NN_DATA_TEXT_H
#define NN_DATA_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define NN_TEXT_MAX_BYTES (4ull << 30) /* 4 GiB, as for IDX files */

/* A whole text file in memory, gzipped or not (detected by magic bytes),
 * a leading UTF-8 byte-order mark skipped. Lines end at '\n'; a '\r' before
 * it (CRLF) is dropped; the last line needs no '\n'. */
typedef struct nn_text {
    char *buf;
    size_t len, pos;
    size_t line; /* number (from 1) of the line nn_text_next_line returned last */
} nn_text;

nn_status nn_text_read(const char *path, nn_text *t, nn_error *err);
void nn_text_free(nn_text *t);
/* The next line (without its end), or false at the end of the file. */
bool nn_text_next_line(nn_text *t, const char **s, size_t *n);
/* Only spaces and tabs (or nothing). */
bool nn_text_blank(const char *s, size_t n);

/* A field for messages: "\"abc\"", non-printable bytes as \xNN, cut to
 * about 32 characters; "an empty field" when n is 0. */
void nn_text_show(const char *s, size_t n, char *out, size_t cap);

typedef enum {
    NN_NUM_OK = 0,
    NN_NUM_EMPTY,     /* nothing between the separators */
    NN_NUM_SYNTAX,    /* not a decimal number */
    NN_NUM_NONFINITE, /* nan, inf, infinity (any case, signed or not) */
    NN_NUM_RANGE      /* beyond double's range (1e999) */
} nn_num_status;

/* A decimal number: [+-]digits[.digits][e[+-]digits] (or .digits), parsed
 * in the C locale; no hex, no surrounding spaces. */
nn_num_status nn_text_number(const char *s, size_t n, double *out);

/* The error for a field that is not a usable number: "path:line: where:
 * expected <what>, got \"x\"<hint>", or why a NaN/inf or out-of-range value
 * is refused. Returns NN_ERR_RUNTIME. */
nn_status nn_seq_bad_number(const char *path, size_t line, const char *where, nn_num_status ns,
                            const char *fs, size_t fn, const char *what, const char *hint,
                            nn_error *err);
/* A class label: an integer-valued number in [0, NN_SEQ_MAX_ID) ("3" or
 * "3.0"); the error names path:line and where (e.g. "field 1 (the label)"),
 * with hint appended when the field is not a number at all. */
nn_status nn_seq_class_label(const char *path, size_t line, const char *where, const char *s,
                             size_t n, const char *hint, int32_t *out, nn_error *err);

/* Rows of row_bytes bytes: grows *p (holding *cap rows) to hold at least
 * `need` rows, doubling. */
nn_status nn_text_grow(void **p, size_t *cap, size_t need, size_t row_bytes, const char *path,
                       nn_error *err);

#endif
