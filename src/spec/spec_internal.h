/* Private to src/spec/: the structures behind nn_spec and nn_spec_node, and
 * the helpers spec.c and override.c share. */
#ifndef NN_SPEC_SPEC_INTERNAL_H
#define NN_SPEC_SPEC_INTERNAL_H

#include <libconfig.h>
#include <stdarg.h>

#include "spec/spec.h"

#define PATH_MAX_LEN 512
#define WHERE_LEN 600
#define DESC_LEN 128

struct nn_spec {
    config_t cfg;
    char *display; /* the file as errors name it */
    char *dir;     /* nn_spec_dir() */
    nn_spec_node *nodes; /* every node handed out, freed by nn_spec_free */
};

struct nn_spec_node {
    nn_spec *spec;
    config_setting_t *s;
    char *path; /* "model.layers.[2]"; "" for the root */
    char **known; /* keys the getters asked about */
    int n_known, cap_known;
    nn_spec_node *next;
};

/* Settings created or changed by nn_spec_override() carry the assignment
 * text (malloc'd, freed by libconfig through config_set_destructor) as their
 * libconfig hook, so errors can cite "--set <assignment>". */

/* The file name errors show for file (the display name of a spec from a string). */
void nn_spec__file_name(const nn_spec *s, const char *file, char *buf, size_t n);
/* "file:line", "--set a.b=c" or "file": where setting st came from. */
void nn_spec__where(const nn_spec *s, const config_setting_t *st, char *buf, size_t n);

/* What a value is, for "got ...": -3, 0.5, "abc", true, a group, a list. */
void nn_spec__describe(const config_setting_t *st, char *buf, size_t n);

/* Shortest text that reads back as v ("0.1", "1e-05", "3"). */
void nn_spec__format_double(double v, char *buf, size_t n);

/* "parent.key", or "key" when parent is "". */
void nn_spec__join(const char *parent, const char *key, char *buf, size_t n);

/* True if some node handed out refers to st or to a setting inside it. */
int nn_spec__node_uses(const nn_spec *s, const config_setting_t *st);

/* "<where>: <path>: <message>" (no "path: " when path is empty). */
nn_status nn_spec__vfail_at(const nn_spec *s, const config_setting_t *st, const char *path,
                            nn_error *err, nn_status code, const char *fmt, va_list ap);
/* A Keras fit()/compile()/ImageDataGenerator key found in group_path
 * when nnctl reads it in another section: the message naming that
 * section (misplaced.c). */
bool nn_spec__misplaced(const char *group_path, const char *key, char *buf, size_t len);

nn_status nn_spec__fail_at(const nn_spec *s, const config_setting_t *st, const char *path,
                           nn_error *err, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* "expected <expected>, got <what st is>". */
nn_status nn_spec__type_error(nn_spec_node *n, const config_setting_t *st, const char *path,
                              const char *expected, nn_error *err);
/* Marks key as known and finds it. Absent: *st = NULL, and an error only
 * when required (naming a likely misspelling). */
nn_status nn_spec__lookup(nn_spec_node *n, const char *key, bool required,
                          config_setting_t **st, nn_error *err);

#endif
