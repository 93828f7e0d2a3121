/* What registry rows say about themselves for the man page and `nnctl
 * plugins`: one entry per setting key. */
#ifndef NN_UTIL_DOC_H
#define NN_UTIL_DOC_H

typedef struct nn_doc_key {
    const char *name; /* the spec key */
    const char *type; /* "int", "float", "bool", "string", "[int]", "group", ... */
    const char *def;  /* its default as written in a spec, or "required" */
    const char *doc;  /* what it does, one phrase */
} nn_doc_key;

#endif
