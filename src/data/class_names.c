/* Class names: one per line in a text file (CIFAR-10's batches.meta.txt,
 * predict's --labels FILE). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/dataset.h"
#include "util/fileio.h"

void nn_class_names_free(nn_class_names *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        free(c->names[i]);
    free(c->names);
    c->n = 0;
    c->names = NULL;
}

nn_status nn_class_names_parse(const char *text, size_t len, int max, nn_class_names *names,
                               nn_error *err)
{
    nn_class_names_free(names);
    int cap = 0;
    size_t i = 0;
    while (i < len && names->n < max) {
        size_t j = i;
        while (j < len && text[j] != '\n')
            j++;
        size_t e = j;
        while (e > i && (text[e - 1] == '\r' || text[e - 1] == ' ' || text[e - 1] == '\t'))
            e--;
        if (e > i) {
            if (names->n == cap) {
                cap = cap ? 2 * cap : 16;
                char **grown = realloc(names->names, (size_t)cap * sizeof *grown);
                if (!grown) {
                    nn_class_names_free(names);
                    return nn_fail(err, NN_ERR_RUNTIME, "out of memory reading class names");
                }
                names->names = grown;
            }
            char *s = nn_malloc(e - i + 1, err);
            if (!s) {
                nn_class_names_free(names);
                return NN_ERR_RUNTIME;
            }
            memcpy(s, text + i, e - i);
            s[e - i] = '\0';
            names->names[names->n++] = s;
        }
        i = j + 1;
    }
    return NN_OK;
}

nn_status nn_class_names_read(const char *path, int max, nn_class_names *names, nn_error *err)
{
    memset(names, 0, sizeof *names);
    char *text;
    size_t len;
    nn_status st = nn_read_file(path, &text, &len, err);
    if (st)
        return st;
    st = nn_class_names_parse(text, len, max, names, err);
    free(text);
    if (!st && names->n == 0)
        st = nn_fail(err, NN_ERR_USAGE, "'%s' names no classes (one name a line)", path);
    return st;
}
