/* The bodies of the libFuzzer targets in tests/fuzz/, shared with the
 * regression replay test (tests/unit/test_fuzz_regressions.c), so a crasher
 * kept under tests/fuzz/regressions/<target>/ goes through exactly the code
 * the fuzzer ran. Each function takes one input, returns 0, and leaves
 * nothing behind (no files, no memory).
 *
 *   spec   spec text, then optionally a line "%%" and one --set assignment
 *          per line; loads, applies the overrides, writes the spec as text,
 *          reloads it, and reads model/train/data from both documents
 *   idx    the input as an IDX file (nn_idx_read), as images with a valid
 *          labels file and as labels with a valid images file
 *          (nn_dataset_load_idx)
 *   png    nn_png_read
 *   model  nn_session_from_model_file (nn_h5_load, the stored spec, the
 *          model built and its weights loaded), with libhdf5 in the
 *          fuzzer's own process (the HDF5 sandbox off)
 *
 * Inputs reach the code under test as files: an anonymous memfd opened by
 * its /proc/self/fd path (nothing on disk), except for model files, which
 * libhdf5 will only open by a real path: those go to a mkstemp file in
 * $TMPDIR (or /tmp) that is unlinked right after the call.
 *
 * NN_FUZZ_VERBOSE=1 prints why png and model inputs were rejected, to check
 * that seeds get past the first checks. */
#ifndef NN_TESTS_FUZZ_TARGETS_H
#define NN_TESTS_FUZZ_TARGETS_H

#include <stddef.h>
#include <stdint.h>

int nn_fuzz_spec(const uint8_t *data, size_t size);
int nn_fuzz_idx(const uint8_t *data, size_t size);
int nn_fuzz_png(const uint8_t *data, size_t size);
int nn_fuzz_model(const uint8_t *data, size_t size);

typedef int (*nn_fuzz_fn)(const uint8_t *data, size_t size);

/* name -> function, for the replay test; NULL-terminated. */
typedef struct {
    const char *name;
    nn_fuzz_fn fn;
} nn_fuzz_target;
extern const nn_fuzz_target nn_fuzz_targets[];

#endif
