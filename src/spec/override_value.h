/* Private to src/spec/override*.c: the value of one --set assignment. */
#ifndef NN_SPEC_OVERRIDE_VALUE_H
#define NN_SPEC_OVERRIDE_VALUE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int type; /* CONFIG_TYPE_INT, INT64, FLOAT, BOOL or STRING */
    long long i;
    double f;
    int b;
    char *str; /* STRING: the value (malloc'd) */
    char *raw; /* the text as written, unquoted (malloc'd) */
} ov_scalar;

typedef struct {
    bool is_array;
    ov_scalar one;     /* !is_array */
    ov_scalar *elems;  /* is_array */
    int n;
    int elem_type;  /* is_array: the common type (INT for an empty array) */
} ov_value;

void ov_scalar_free(ov_scalar *sc);
void ov_value_free(ov_value *v);
/* Drops leading and trailing blanks from p[0..*n). */
void ov_trim(const char **p, size_t *n);
/* Reads one scalar from p[0..n) (already trimmed) with the type its
 * syntax gives; false when out of memory. */
bool ov_parse_scalar(const char *p, size_t n, ov_scalar *sc);
bool ov_is_int(int t);
bool ov_is_scalar(int t);
/* Gives sc the type `want` (an existing setting's type) where its text
 * fits that type (see override_value.c); false when out of memory. */
bool ov_fit_type(ov_scalar *sc, int want);
/* Splits "[a, b, "c,d"]" into scalars. Returns 0, -1 for out of memory, or
 * 1 for a syntax problem (message in why). */
int ov_parse_array(const char *p, size_t n, ov_value *v, char *why, size_t why_n);

#endif
