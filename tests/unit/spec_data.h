/* The unit tests' way to read a data section from spec text: only for
 * tests/unit (needs cmocka's asserts, included before). */
#ifndef NN_TESTS_UNIT_SPEC_DATA_H
#define NN_TESTS_UNIT_SPEC_DATA_H

#include "data/data_spec.h"
#include "spec/spec.h"

/* Parses text's `data` group into c (the spec is freed again). */
static inline nn_status spec_data(const char *text, nn_data_cfg *c, nn_error *err)
{
    nn_spec *s;
    assert_int_equal(nn_spec_load_string(&s, text, "d.cfg", err), NN_OK);
    nn_spec_node *data;
    nn_status st = nn_spec_group(nn_spec_root(s), "data", true, &data, err);
    if (!st)
        st = nn_spec_data(data, c, err);
    nn_spec_free(s);
    return st;
}

#endif
