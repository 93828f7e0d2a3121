/* The spec layer: a libconfig document plus --set overrides, read through
 * typed getters that validate as they read. Every error names the file, the
 * line and the key path, e.g.
 *   mnist.cfg:14: model.layers.[2].units: expected an integer >= 1, got -3
 * Values that came from --set cite the override instead of a line:
 *   --set train.epochs=abc: train.epochs: expected an integer, got "abc"
 *
 * Unknown keys are errors: after a consumer has read a group with the getters
 * below, nn_spec_check_unknown() rejects any key it never asked for, with a
 * "did you mean" drawn from the keys it did ask for. */
#ifndef NN_SPEC_SPEC_H
#define NN_SPEC_SPEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/error.h"

typedef struct nn_spec nn_spec;           /* a whole document */
typedef struct nn_spec_node nn_spec_node; /* a group, list or array inside it */

/* Loading. `display_name` is what errors call the file (the path as typed). */
nn_status nn_spec_load_file(nn_spec **out, const char *path, nn_error *err);
nn_status nn_spec_load_string(nn_spec **out, const char *text, const char *display_name,
                              nn_error *err);
void nn_spec_free(nn_spec *s);

/* "key.path=value": libconfig path syntax, list elements as `.[N]`
 * (model.layers.[1].rate=0.3). An existing key keeps its type where the value
 * fits it (an int key given 0.5 becomes a float; a string key takes the text
 * as is); a missing key is created with the type the value's syntax implies
 * (integer, float, true/false, "quoted" or bare string, [a, b] array),
 * creating missing groups on the way. */
nn_status nn_spec_override(nn_spec *s, const char *assignment, nn_error *err);

/* The document as libconfig text (after overrides), for storing in model
 * files; caller frees. */
nn_status nn_spec_to_text(const nn_spec *s, char **text, nn_error *err);

/* Directory of the spec file ("" for strings), for resolving paths. */
const char *nn_spec_dir(const nn_spec *s);
const char *nn_spec_filename(const nn_spec *s);
/* The folder of the spec n is part of. */
const char *nn_spec_node_dir(const nn_spec_node *n);
/* Sets the folder paths in a spec loaded from a string start at (a model
 * file's stored spec: the folder of the spec it was trained from). */
nn_status nn_spec_set_dir(nn_spec *s, const char *dir, nn_error *err);

/* ---- reading ---------------------------------------------------------- */

nn_spec_node *nn_spec_root(nn_spec *s);
/* "model.layers.[2]" */
const char *nn_spec_node_path(const nn_spec_node *n);

/* Does `key` exist in group n? Marks the key as known. */
bool nn_spec_has(nn_spec_node *n, const char *key);

/* Sub-group. Absent and !required: *out = NULL and NN_OK. Present but not a
 * group: error. */
nn_status nn_spec_group(nn_spec_node *n, const char *key, bool required, nn_spec_node **out,
                        nn_error *err);
/* A list `( ... )` or array `[ ... ]`. Absent and !required: *out = NULL. */
nn_status nn_spec_list(nn_spec_node *n, const char *key, bool required, nn_spec_node **out,
                       nn_error *err);
int nn_spec_length(const nn_spec_node *list);
/* Element i of a list that must be a group. */
/* A group's i-th member's key (file order), or NULL past the end. */
const char *nn_spec_member_key(const nn_spec_node *group, int i);
/* Is n.key present and a group (e.g. loss = { a = "mse"; } vs loss = "mse")? */
bool nn_spec_is_group(nn_spec_node *n, const char *key);
nn_status nn_spec_elem_group(nn_spec_node *list, int i, nn_spec_node **out, nn_error *err);

/* Scalars. Absent and !required: the default is stored. Range checks are
 * inclusive; messages say what was expected and what was found. Integers are
 * accepted where floats are expected (`lr = 1;`). */
nn_status nn_spec_int(nn_spec_node *n, const char *key, bool required, long long def,
                      long long min, long long max, long long *out, nn_error *err);
nn_status nn_spec_float(nn_spec_node *n, const char *key, bool required, double def, double min,
                        double max, double *out, nn_error *err);
nn_status nn_spec_bool(nn_spec_node *n, const char *key, bool required, bool def, bool *out,
                       nn_error *err);
/* *out points into the document (valid until nn_spec_free); def may be NULL. */
nn_status nn_spec_string(nn_spec_node *n, const char *key, bool required, const char *def,
                         const char **out, nn_error *err);
/* One of `choices` (NULL-terminated); *out is its index. Unknown values get
 * "did you mean". def is an index, or -1 for no default. */
nn_status nn_spec_choice(nn_spec_node *n, const char *key, bool required,
                         const char *const *choices, int def, int *out, nn_error *err);
/* An array of integers (or a single integer, read as a 1-element array);
 * each element must be in [min, max]; at most max_n elements. */
nn_status nn_spec_int_array(nn_spec_node *n, const char *key, bool required, long long min,
                            long long max, int max_n, long long *out, int *n_out,
                            nn_error *err);
/* An array of numbers (or a single number, read as a 1-element array);
 * integers are accepted; each in [min, max]; at most max_n elements. */
nn_status nn_spec_float_array(nn_spec_node *n, const char *key, bool required, double min,
                              double max, int max_n, double *out, int *n_out, nn_error *err);
/* An array of strings (or a single string). Pointers into the document. */
nn_status nn_spec_string_array(nn_spec_node *n, const char *key, bool required, int max_n,
                               const char **out, int *n_out, nn_error *err);

/* A required key that is absent: when a member of n looks like a
 * misspelling of it, the error for that member, at its own line ("unknown
 * key "inptu"; did you mean "input"? (a required key)"); else NN_OK. The
 * getters do this for required keys; a consumer that words its own
 * "missing" error calls it first. */
nn_status nn_spec_misspelt(nn_spec_node *n, const char *key, nn_error *err);

/* Group g's keys and values as a JSON object (keys in skip left out;
 * NULL-terminated, may be NULL). */
json_t *nn_spec_group_json(nn_spec_node *g, const char *const *skip);

/* The i-th key a getter asked group n about (NULL past the end): what a
 * parser reads, for checking that its docs name every key. */
const char *nn_spec_known_key(const nn_spec_node *n, int i);

/* Rejects keys of group n that no getter asked for. */
nn_status nn_spec_check_unknown(nn_spec_node *n, nn_error *err);

/* Formats an error located at n's key (key may be NULL for the node itself):
 * "file:line: path.key: <message>". Returns code. */
nn_status nn_spec_fail(nn_spec_node *n, const char *key, nn_error *err, nn_status code,
                       const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* "did you mean": the candidate closest to `word` by edit distance, or NULL
 * when none is close enough. Shared by every registry lookup. */
const char *nn_did_you_mean(const char *word, const char *const *candidates, int n);

#endif
