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
 *   npy    nn_npy_open and every reader (f32, labels, u8), then the input
 *          as a dataset's samples with valid labels and as its targets
 *          (nn_npy_load_dataset)
 *   csv    nn_csv_seq_load; the first byte picks timesteps (1-8),
 *          features (1-4), header and regression, the rest is the file
 *   tokens nn_tokens_load; the first byte picks maxlen (1-16), padding,
 *          truncating and the pad value
 *   cifar  nn_cifar10_load_archive (tar, gzipped or not) for "test" and
 *          "train" with class names, and nn_cifar10_load_files
 *   keras_json  nn_keras_model_text (the first byte picks the file's
 *          keras_version: none, 1.2.2, 2.15.0, 3.3.3) and
 *          nn_keras_train_text on the rest; converted text must load as a
 *          spec (abort otherwise), and a converted model is built
 *   rundir history.csv, then "%%" lines separating run.json, eval.json and
 *          spec.cfg, written to a folder: nn_history_parse, nn_runs_load,
 *          the comparison table in every format, and a sweep's objective
 *          read from it (nn_sweep_read_objective)
 *   sweep  a sweep file (base = "base.cfg" is a valid spec beside it), then
 *          optionally "%%" and sweep.json, where FINGERPRINT stands for the
 *          sweep's own fingerprint: nn_sweep_load, the initial trials,
 *          nn_sweep_restore, and a Bayesian proposal from restored trials
 *   resume the training state JSON of a checkpoint: it replaces the state
 *          of a real last.h5 of a small model (written once by nnctl's
 *          writer, read once, the HDF5 sandbox off), then
 *          nn_fit_checkpoint_position and nn_fit_load_resume (what
 *          `train --resume` does)
 *
 * Inputs reach the code under test as files: an anonymous memfd opened by
 * its /proc/self/fd path (nothing on disk), except for model files, which
 * libhdf5 will only open by a real path: those go to a mkstemp file in
 * $TMPDIR (or /tmp) that is unlinked right after the call; rundir, sweep
 * and resume write their files into one folder per process under $TMPDIR
 * (rewritten by every input; the Makefile's fuzz runs remove it).
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
int nn_fuzz_npy(const uint8_t *data, size_t size);
int nn_fuzz_csv(const uint8_t *data, size_t size);
int nn_fuzz_tokens(const uint8_t *data, size_t size);
int nn_fuzz_cifar(const uint8_t *data, size_t size);
int nn_fuzz_keras_json(const uint8_t *data, size_t size);
int nn_fuzz_rundir(const uint8_t *data, size_t size);
int nn_fuzz_sweep(const uint8_t *data, size_t size);
int nn_fuzz_resume(const uint8_t *data, size_t size);

typedef int (*nn_fuzz_fn)(const uint8_t *data, size_t size);

/* name -> function, for the replay test; NULL-terminated. */
typedef struct {
    const char *name;
    nn_fuzz_fn fn;
} nn_fuzz_target;
extern const nn_fuzz_target nn_fuzz_targets[];

#endif
