/* Unit tests for src/train/callbacks/: EarlyStopping, ModelCheckpoint and
 * the history CSV, driven by scripted metric sequences.
 *
 * The reference is Keras's behaviour (docs/PRIOR-ART.md, "Keras: behaviour
 * users rely on", and the EarlyStopping/ModelCheckpoint/CSVLogger sources of
 * tf-keras 2.15 and Keras 3):
 *   EarlyStopping.on_epoch_end(epoch, logs):
 *     current = logs[monitor]; if absent or epoch < start_from_epoch: return
 *     wait += 1
 *     if improves(current, best):            # op(current - min_delta, best),
 *         best = current; best_epoch = epoch #  sign flipped for min mode,
 *         if baseline is None or improves(current, baseline):  # |min_delta|
 *             wait = 0
 *         return                             # (tf-keras >= 2.13, Keras 3)
 *     if wait >= patience and epoch > 0: stop
 *   mode "auto": maximise when the name ends in acc, accuracy or auc.
 *   ModelCheckpoint: path = filepath.format(epoch=epoch + 1, **logs);
 *     save_best_only compares with a strict op(current, best), best starting at
 *     +-inf; messages "Epoch %d: %s improved from %.5f to %.5f, saving model to
 *     %s", "Epoch %d: %s did not improve from %.5f", "Epoch %d: saving model
 *     to %s".
 *   CSVLogger: header "epoch,<keys>", epochs from 0, header skipped when
 *     appending to a non-empty file.
 * Every expected value below is worked out by hand from these rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "train/callbacks/callbacks.h"

#define assert_has(text, part)                                                                 \
    do {                                                                                       \
        if (!strstr((text), (part)))                                                           \
            fail_msg("\"%s\" lacks \"%s\"", (text), (part));                                   \
    } while (0)

static nn_logs one_log(const char *name, double v)
{
    nn_logs l;
    memset(&l, 0, sizeof l);
    nn_logs_set(&l, name, v);
    return l;
}

static nn_early_stopping_cfg es_cfg(const char *monitor, nn_monitor_mode mode, double min_delta,
                                    long long patience)
{
    nn_early_stopping_cfg c;
    memset(&c, 0, sizeof c);
    c.enabled = true;
    snprintf(c.monitor, sizeof c.monitor, "%s", monitor);
    c.mode = mode;
    c.min_delta = min_delta;
    c.patience = patience;
    return c;
}

/* One epoch: returns "stop"; *improved and the state are checked by callers. */
static bool es_epoch(nn_early_stopping *s, long long epoch, const char *name, double v,
                     bool *improved)
{
    nn_logs l = one_log(name, v);
    return nn_early_stopping_epoch_end(s, epoch, &l, improved);
}

/* ---- EarlyStopping -------------------------------------------------------- */

static void test_es_auto_mode_direction(void **state)
{
    (void)state;
    /* Keras 2.9+: auto maximises names ending in acc, accuracy, auc. */
    assert_true(nn_monitor_maximize(NN_MODE_AUTO, "accuracy"));
    assert_true(nn_monitor_maximize(NN_MODE_AUTO, "val_accuracy"));
    assert_true(nn_monitor_maximize(NN_MODE_AUTO, "val_acc"));
    assert_true(nn_monitor_maximize(NN_MODE_AUTO, "auc"));
    assert_true(nn_monitor_maximize(NN_MODE_AUTO, "val_sparse_categorical_accuracy"));
    assert_false(nn_monitor_maximize(NN_MODE_AUTO, "loss"));
    assert_false(nn_monitor_maximize(NN_MODE_AUTO, "val_loss"));
    assert_false(nn_monitor_maximize(NN_MODE_AUTO, "mse"));
    /* "accuracy_drop" does not END in accuracy: minimised */
    assert_false(nn_monitor_maximize(NN_MODE_AUTO, "accuracy_drop"));
    /* explicit modes win over the name */
    assert_true(nn_monitor_maximize(NN_MODE_MAX, "loss"));
    assert_false(nn_monitor_maximize(NN_MODE_MIN, "accuracy"));
}

static void test_es_min_mode_with_min_delta(void **state)
{
    (void)state;
    /* min mode, min_delta 0.1, patience 2. Improvement: current + 0.1 < best.
     * epoch 0: 1.00 < inf: improved, best 1.00, wait 1 -> 0.      no stop
     * epoch 1: 0.95 + 0.1 = 1.05 < 1.00? no. wait 1; 1 >= 2? no.   no stop
     * epoch 2: 0.85 + 0.1 = 0.95 < 1.00: improved, best 0.85, wait 0
     * epoch 3: 0.80 + 0.1 = 0.90 < 0.85? no. wait 1.               no stop
     * epoch 4: 0.78 + 0.1 = 0.88 < 0.85? no. wait 2 >= 2, epoch > 0: STOP */
    nn_early_stopping_cfg c = es_cfg("val_loss", NN_MODE_MIN, 0.1, 2);
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    const double v[] = {1.00, 0.95, 0.85, 0.80, 0.78};
    const bool want_improved[] = {true, false, true, false, false};
    const long long want_wait[] = {0, 1, 0, 1, 2};
    for (int e = 0; e < 5; e++) {
        bool improved;
        bool stop = es_epoch(&s, e, "val_loss", v[e], &improved);
        assert_int_equal(improved, want_improved[e]);
        assert_int_equal(s.wait, want_wait[e]);
        assert_int_equal(stop, e == 4);
    }
    assert_true(s.best == 0.85);
    assert_int_equal(s.best_epoch, 2);
    assert_int_equal(s.stopped_epoch, 4);
}

static void test_es_min_delta_boundary_and_sign(void **state)
{
    (void)state;
    /* Exactly min_delta better is not an improvement (strict <); binary-exact
     * values. min_delta is used as |min_delta| (Keras: abs(min_delta)), so
     * -0.25 behaves like 0.25.
     * epoch 0: 1.0 improved (best 1.0)
     * epoch 1: 0.75 + 0.25 = 1.0 < 1.0? no
     * epoch 2: 0.5 + 0.25 = 0.75 < 1.0: improved (best 0.5) */
    for (int sign = -1; sign <= 1; sign += 2) {
        nn_early_stopping_cfg c = es_cfg("loss", NN_MODE_AUTO, sign * 0.25, 10);
        nn_early_stopping s;
        nn_early_stopping_begin(&s, &c);
        bool imp;
        assert_false(es_epoch(&s, 0, "loss", 1.0, &imp));
        assert_true(imp);
        assert_false(es_epoch(&s, 1, "loss", 0.75, &imp));
        assert_false(imp);
        assert_true(s.best == 1.0);
        assert_false(es_epoch(&s, 2, "loss", 0.5, &imp));
        assert_true(imp);
        assert_true(s.best == 0.5);
        assert_int_equal(s.wait, 0);
    }
}

static void test_es_max_mode_via_auto(void **state)
{
    (void)state;
    /* "val_accuracy" in auto mode is maximised; min_delta 0, patience 2.
     * epoch 0: 0.50 > -inf: improved, wait 0
     * epoch 1: 0.60 > 0.50: improved, wait 0
     * epoch 2: 0.55 > 0.60? no: wait 1
     * epoch 3: 0.60 > 0.60? no (strict): wait 2 >= 2: STOP at epoch 3 */
    nn_early_stopping_cfg c = es_cfg("val_accuracy", NN_MODE_AUTO, 0.0, 2);
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    assert_true(s.maximize);
    const double v[] = {0.50, 0.60, 0.55, 0.60};
    const bool want_improved[] = {true, true, false, false};
    for (int e = 0; e < 4; e++) {
        bool imp;
        bool stop = es_epoch(&s, e, "val_accuracy", v[e], &imp);
        assert_int_equal(imp, want_improved[e]);
        assert_int_equal(stop, e == 3);
    }
    assert_true(s.best == 0.60);
    assert_int_equal(s.best_epoch, 1);
    assert_int_equal(s.stopped_epoch, 3);

    /* The same numbers with mode "min" on the same name: 0.50 is the best,
     * 0.60, 0.55 and 0.60 never beat it: wait 1, 2 -> stop at epoch 2. */
    c.mode = NN_MODE_MIN;
    nn_early_stopping_begin(&s, &c);
    assert_false(s.maximize);
    bool imp;
    assert_false(es_epoch(&s, 0, "val_accuracy", 0.50, &imp));
    assert_false(es_epoch(&s, 1, "val_accuracy", 0.60, &imp));
    assert_true(es_epoch(&s, 2, "val_accuracy", 0.55, &imp));
    assert_int_equal(s.stopped_epoch, 2);
}

static void test_es_patience_counting(void **state)
{
    (void)state;
    /* patience 3, a loss that only gets worse after epoch 0:
     * wait after epochs 0..3 = 0, 1, 2, 3; stop exactly at epoch 3. */
    nn_early_stopping_cfg c = es_cfg("loss", NN_MODE_AUTO, 0.0, 3);
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    const double v[] = {1.0, 1.1, 1.2, 1.3};
    for (int e = 0; e < 4; e++) {
        bool imp;
        bool stop = es_epoch(&s, e, "loss", v[e], &imp);
        assert_int_equal(s.wait, e);
        assert_int_equal(stop, e == 3);
    }
    /* An improvement in between restarts the count:
     * 1.0 (w0) 1.1 (w1) 1.2 (w2) 0.9 (improved, w0) 1.0 (w1) 1.0 (w2) 1.0 (w3: stop at 6) */
    nn_early_stopping_begin(&s, &c);
    const double v2[] = {1.0, 1.1, 1.2, 0.9, 1.0, 1.0, 1.0};
    const long long w2[] = {0, 1, 2, 0, 1, 2, 3};
    for (int e = 0; e < 7; e++) {
        bool imp;
        bool stop = es_epoch(&s, e, "loss", v2[e], &imp);
        assert_int_equal(s.wait, w2[e]);
        assert_int_equal(stop, e == 6);
    }
    assert_int_equal(s.best_epoch, 3);
}

static void test_es_baseline(void **state)
{
    (void)state;
    /* min mode, baseline 0.5, patience 3. wait resets only when the value
     * beats both best and the baseline.
     * epoch 0: 0.80 beats inf (best 0.80) but not 0.5: wait 1
     * epoch 1: 0.40 beats 0.80 and 0.5: wait 0
     * epoch 2: 0.45 no: wait 1;  epoch 3: 0.45 no: wait 2
     * epoch 4: 0.45 no: wait 3 >= 3: STOP */
    nn_early_stopping_cfg c = es_cfg("val_loss", NN_MODE_AUTO, 0.0, 3);
    c.has_baseline = true;
    c.baseline = 0.5;
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    const double v[] = {0.80, 0.40, 0.45, 0.45, 0.45};
    const bool want_improved[] = {true, true, false, false, false};
    const long long want_wait[] = {1, 0, 1, 2, 3};
    for (int e = 0; e < 5; e++) {
        bool imp;
        bool stop = es_epoch(&s, e, "val_loss", v[e], &imp);
        assert_int_equal(imp, want_improved[e]);
        assert_int_equal(s.wait, want_wait[e]);
        assert_int_equal(stop, e == 4);
    }

    /* Never beating the baseline: patience 2.
     * epoch 0: 0.90 improves best (wait 1, not reset: 0.90 > 0.5)
     * epoch 1: 0.95 no: wait 2 >= 2, epoch > 0: STOP */
    c.patience = 2;
    nn_early_stopping_begin(&s, &c);
    bool imp;
    assert_false(es_epoch(&s, 0, "val_loss", 0.90, &imp));
    assert_true(imp);
    assert_int_equal(s.wait, 1);
    assert_true(es_epoch(&s, 1, "val_loss", 0.95, &imp));
    assert_false(imp);

    /* The baseline test uses min_delta too: min_delta 0.1, baseline 0.5,
     * 0.45 + 0.1 = 0.55 < 0.5? no: best becomes 0.45 but wait is not reset. */
    c.min_delta = 0.1;
    c.patience = 5;
    nn_early_stopping_begin(&s, &c);
    assert_false(es_epoch(&s, 0, "val_loss", 0.45, &imp));
    assert_true(imp);
    assert_true(s.best == 0.45);
    assert_int_equal(s.wait, 1);
}

static void test_es_start_from_epoch(void **state)
{
    (void)state;
    /* start_from_epoch 2, patience 1: epochs 0 and 1 are ignored entirely
     * (their excellent 0.1 does not become best; wait stays 0).
     * epoch 2: 1.0 < inf: improved, best 1.0, wait 0
     * epoch 3: 1.0 < 1.0? no: wait 1 >= 1: STOP */
    nn_early_stopping_cfg c = es_cfg("val_loss", NN_MODE_AUTO, 0.0, 1);
    c.start_from_epoch = 2;
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    bool imp;
    assert_false(es_epoch(&s, 0, "val_loss", 0.1, &imp));
    assert_false(imp);
    assert_false(es_epoch(&s, 1, "val_loss", 0.1, &imp));
    assert_false(imp);
    assert_int_equal(s.wait, 0);
    assert_true(isinf(s.best) && s.best > 0);
    assert_false(es_epoch(&s, 2, "val_loss", 1.0, &imp));
    assert_true(imp);
    assert_true(s.best == 1.0);
    assert_true(es_epoch(&s, 3, "val_loss", 1.0, &imp));
    assert_int_equal(s.stopped_epoch, 3);
}

static void test_es_never_stops_at_epoch_0(void **state)
{
    (void)state;
    /* patience 0 and an epoch 0 that does not improve (inf is not < inf):
     * wait 1 >= 0, but epoch 0 never stops. Epoch 1, same: STOP. */
    nn_early_stopping_cfg c = es_cfg("loss", NN_MODE_AUTO, 0.0, 0);
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    bool imp;
    assert_false(es_epoch(&s, 0, "loss", INFINITY, &imp));
    assert_false(imp);
    assert_int_equal(s.wait, 1);
    assert_true(es_epoch(&s, 1, "loss", INFINITY, &imp));
    assert_int_equal(s.stopped_epoch, 1);

    /* A baseline that epoch 0 misses: wait 1 >= patience 0, still no stop. */
    c.has_baseline = true;
    c.baseline = 0.1;
    nn_early_stopping_begin(&s, &c);
    assert_false(es_epoch(&s, 0, "loss", 0.8, &imp));
    assert_true(imp);
    assert_int_equal(s.wait, 1);
}

static void test_es_missing_monitor_and_disabled(void **state)
{
    (void)state;
    /* The monitored value absent from the logs: nothing happens (Keras warns
     * and returns), even with patience 0 at epoch 5. */
    nn_early_stopping_cfg c = es_cfg("val_loss", NN_MODE_AUTO, 0.0, 0);
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    bool imp = true;
    for (int e = 0; e < 6; e++)
        assert_false(es_epoch(&s, e, "loss", 5.0 + e, &imp));
    assert_false(imp);
    assert_int_equal(s.wait, 0);
    /* enabled = false: never stops */
    c.enabled = false;
    nn_early_stopping_begin(&s, &c);
    for (int e = 0; e < 6; e++)
        assert_false(es_epoch(&s, e, "val_loss", 5.0 + e, &imp));
}

static void test_es_improving_epoch_never_stops(void **state)
{
    (void)state;
    /* tf-keras 2.13+ and Keras 3 return right after an improvement, so an
     * epoch that improves on `best` never stops training.
     * patience 0 (the default), val_loss 1.0, 0.9, 0.8, 0.8:
     * epochs 0-2 improve: no stop. epoch 3: 0.8 < 0.8? no: wait 1 >= 0: STOP. */
    nn_early_stopping_cfg c = es_cfg("val_loss", NN_MODE_AUTO, 0.0, 0);
    nn_early_stopping s;
    nn_early_stopping_begin(&s, &c);
    const double v[] = {1.0, 0.9, 0.8, 0.8};
    for (int e = 0; e < 4; e++) {
        bool imp;
        bool stop = es_epoch(&s, e, "val_loss", v[e], &imp);
        if (stop != (e == 3))
            fail_msg("patience 0, val_loss %g at epoch %d (improved: %d): stop = %d, want %d",
                     v[e], e, imp, stop, e == 3);
    }
    /* Baseline 0.5 never reached, patience 2, improving 0.9, 0.8, 0.7:
     * wait 1, 2, 3 (never reset) but each epoch improves: no stop;
     * epoch 3: 0.75 does not improve: wait 4 >= 2: STOP. */
    c.has_baseline = true;
    c.baseline = 0.5;
    c.patience = 2;
    nn_early_stopping_begin(&s, &c);
    const double b[] = {0.9, 0.8, 0.7, 0.75};
    for (int e = 0; e < 4; e++) {
        bool imp;
        bool stop = es_epoch(&s, e, "val_loss", b[e], &imp);
        assert_int_equal(s.wait, e + 1);
        if (stop != (e == 3))
            fail_msg("baseline 0.5, val_loss %g at epoch %d (improved: %d): stop = %d, want %d",
                     b[e], e, imp, stop, e == 3);
    }
}

/* ---- ModelCheckpoint ------------------------------------------------------ */

static nn_checkpoint_cfg ck_cfg(const char *path, const char *monitor, nn_monitor_mode mode,
                                bool best_only)
{
    nn_checkpoint_cfg c;
    memset(&c, 0, sizeof c);
    c.enabled = true;
    snprintf(c.path, sizeof c.path, "%s", path);
    snprintf(c.monitor, sizeof c.monitor, "%s", monitor);
    c.mode = mode;
    c.save_best_only = best_only;
    c.verbose = true;
    return c;
}

typedef struct {
    bool save;
    char path[4096], msg[8192];
    nn_status st;
    nn_error err;
} ck_out;

static ck_out ck_epoch(nn_checkpoint *c, long long epoch, const nn_logs *l)
{
    ck_out o;
    memset(&o, 0, sizeof o);
    o.st = nn_checkpoint_epoch_end(c, epoch, l, "RUN", &o.save, o.path, sizeof o.path, o.msg,
                                   sizeof o.msg, &o.err);
    return o;
}

static void test_ck_save_best_only_min(void **state)
{
    (void)state;
    /* val_loss, min (auto), best starts at inf.
     * epoch 0: 0.5 < inf: save, "improved from inf to 0.50000"
     * epoch 1: 0.6 < 0.5? no: "did not improve from 0.50000"
     * epoch 2: 0.5 < 0.5? no (strict): no save
     * epoch 3: 0.25 < 0.5: save, "improved from 0.50000 to 0.25000" */
    nn_checkpoint_cfg cfg = ck_cfg("best.h5", "val_loss", NN_MODE_AUTO, true);
    nn_checkpoint c;
    nn_checkpoint_begin(&c, &cfg);
    nn_logs l = one_log("val_loss", 0.5);
    ck_out o = ck_epoch(&c, 0, &l);
    assert_int_equal(o.st, NN_OK);
    assert_true(o.save);
    assert_string_equal(o.path, "RUN/best.h5");
    assert_string_equal(o.msg, "Epoch 1: val_loss improved from inf to 0.50000, saving model to "
                               "RUN/best.h5");
    l = one_log("val_loss", 0.6);
    o = ck_epoch(&c, 1, &l);
    assert_false(o.save);
    assert_string_equal(o.msg, "Epoch 2: val_loss did not improve from 0.50000");
    l = one_log("val_loss", 0.5);
    o = ck_epoch(&c, 2, &l);
    assert_false(o.save);
    assert_string_equal(o.msg, "Epoch 3: val_loss did not improve from 0.50000");
    l = one_log("val_loss", 0.25);
    o = ck_epoch(&c, 3, &l);
    assert_true(o.save);
    assert_string_equal(o.msg, "Epoch 4: val_loss improved from 0.50000 to 0.25000, saving model "
                               "to RUN/best.h5");
}

static void test_ck_save_best_only_max(void **state)
{
    (void)state;
    /* val_accuracy, auto -> max, best starts at -inf.
     * epoch 0: 0.75: "improved from -inf to 0.75000"
     * epoch 1: 0.5: "did not improve from 0.75000"
     * epoch 2: 0.875: "improved from 0.75000 to 0.87500" */
    nn_checkpoint_cfg cfg = ck_cfg("ckpt-{epoch:02d}.h5", "val_accuracy", NN_MODE_AUTO, true);
    nn_checkpoint c;
    nn_checkpoint_begin(&c, &cfg);
    nn_logs l = one_log("val_accuracy", 0.75);
    ck_out o = ck_epoch(&c, 0, &l);
    assert_true(o.save);
    assert_string_equal(o.msg, "Epoch 1: val_accuracy improved from -inf to 0.75000, saving "
                               "model to RUN/ckpt-01.h5");
    l = one_log("val_accuracy", 0.5);
    o = ck_epoch(&c, 1, &l);
    assert_false(o.save);
    assert_string_equal(o.msg, "Epoch 2: val_accuracy did not improve from 0.75000");
    l = one_log("val_accuracy", 0.875);
    o = ck_epoch(&c, 2, &l);
    assert_true(o.save);
    assert_string_equal(o.path, "RUN/ckpt-03.h5");
    assert_string_equal(o.msg, "Epoch 3: val_accuracy improved from 0.75000 to 0.87500, saving "
                               "model to RUN/ckpt-03.h5");
    /* mode "min" forces minimising even for an accuracy: 0.75 then 0.5 improves */
    cfg.mode = NN_MODE_MIN;
    nn_checkpoint_begin(&c, &cfg);
    l = one_log("val_accuracy", 0.75);
    o = ck_epoch(&c, 0, &l);
    assert_has(o.msg, "improved from inf to 0.75000");
    l = one_log("val_accuracy", 0.5);
    o = ck_epoch(&c, 1, &l);
    assert_true(o.save);
}

static void test_ck_every_epoch_and_paths(void **state)
{
    (void)state;
    /* save_best_only = false: every epoch, "Epoch N: saving model to PATH". */
    nn_checkpoint_cfg cfg = ck_cfg("ckpt-{epoch:02d}-{val_loss:.4f}.h5", "val_loss",
                                   NN_MODE_AUTO, false);
    nn_checkpoint c;
    nn_checkpoint_begin(&c, &cfg);
    nn_logs l = one_log("val_loss", 0.123456);
    ck_out o = ck_epoch(&c, 4, &l);
    assert_int_equal(o.st, NN_OK);
    assert_true(o.save);
    /* epoch index 4 -> {epoch} = 5 -> "05"; 0.123456 -> ".4f" -> "0.1235" */
    assert_string_equal(o.path, "RUN/ckpt-05-0.1235.h5");
    assert_string_equal(o.msg, "Epoch 5: saving model to RUN/ckpt-05-0.1235.h5");
    /* a worse value is saved too */
    l = one_log("val_loss", 9.0);
    o = ck_epoch(&c, 5, &l);
    assert_true(o.save);
    assert_string_equal(o.path, "RUN/ckpt-06-9.0000.h5");

    /* an absolute template is not put under the run directory */
    snprintf(cfg.path, sizeof cfg.path, "/abs/dir/m-{epoch}.h5");
    nn_checkpoint_begin(&c, &cfg);
    o = ck_epoch(&c, 0, &l);
    assert_string_equal(o.path, "/abs/dir/m-1.h5");

    /* save_best_only with the monitor missing from the logs: no save (Keras
     * warns and skips) */
    cfg.save_best_only = true;
    nn_checkpoint_begin(&c, &cfg);
    l = one_log("loss", 0.1);
    snprintf(cfg.path, sizeof cfg.path, "best.h5");
    o = ck_epoch(&c, 0, &l);
    assert_int_equal(o.st, NN_OK);
    assert_false(o.save);

    /* disabled: never */
    cfg.enabled = false;
    nn_checkpoint_begin(&c, &cfg);
    l = one_log("val_loss", 0.1);
    o = ck_epoch(&c, 0, &l);
    assert_int_equal(o.st, NN_OK);
    assert_false(o.save);
}

static void test_template_formatting(void **state)
{
    (void)state;
    nn_logs l;
    memset(&l, 0, sizeof l);
    nn_logs_set(&l, "loss", 0.5);
    nn_logs_set(&l, "val_loss", 0.123456);
    nn_logs_set(&l, "val_accuracy", 0.98765);
    char out[256];
    nn_error err = {0};
    /* Python: "{epoch:02d}".format(epoch=0 + 1) == "01" */
    assert_int_equal(nn_format_template("m-{epoch:02d}.h5", 0, &l, out, sizeof out, &err), NN_OK);
    assert_string_equal(out, "m-01.h5");
    /* "{epoch:03d}" of 12 -> "012"; "{epoch}" of 100 -> "100" */
    assert_int_equal(nn_format_template("{epoch:03d}", 11, &l, out, sizeof out, &err), NN_OK);
    assert_string_equal(out, "012");
    assert_int_equal(nn_format_template("e{epoch}", 99, &l, out, sizeof out, &err), NN_OK);
    assert_string_equal(out, "e100");
    /* "{val_loss:.4f}" of 0.123456 -> "0.1235"; ".2f" of 0.98765 -> "0.99";
     * ".2e" of 0.123456 -> "1.23e-01"; "{loss}" of 0.5 -> str(0.5) = "0.5" */
    assert_int_equal(nn_format_template("{val_loss:.4f}_{val_accuracy:.2f}_{val_loss:.2e}_{loss}",
                                        2, &l, out, sizeof out, &err),
                     NN_OK);
    assert_string_equal(out, "0.1235_0.99_1.23e-01_0.5");
    /* no fields: copied as is */
    assert_int_equal(nn_format_template("plain.h5", 3, &l, out, sizeof out, &err), NN_OK);
    assert_string_equal(out, "plain.h5");

    /* errors */
    assert_int_equal(nn_format_template("m-{val_los:.4f}.h5", 0, &l, out, sizeof out, &err),
                     NN_ERR_USAGE);
    assert_has(err.msg, "m-{val_los:.4f}.h5");
    assert_has(err.msg, "\"val_los\" is not logged");
    assert_int_equal(nn_format_template("m-{epoch.h5", 0, &l, out, sizeof out, &err),
                     NN_ERR_USAGE);
    assert_has(err.msg, "unmatched '{'");
    /* {epoch} is an integer: a float format is refused */
    assert_int_equal(nn_format_template("m-{epoch:.4f}.h5", 0, &l, out, sizeof out, &err),
                     NN_ERR_USAGE);
    assert_has(err.msg, "{epoch} takes an integer format");
    /* a float with "d": Python raises "Unknown format code 'd' for float" */
    assert_int_equal(nn_format_template("m-{val_loss:d}.h5", 0, &l, out, sizeof out, &err),
                     NN_ERR_USAGE);
    assert_has(err.msg, "bad format \"d\"");
}

/* ---- history CSV ---------------------------------------------------------- */

static char tmpdir[256];

static int make_tmpdir(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "%s/nnctl-test-cb.XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int remove_tmpdir(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    if (d) {
        struct dirent *e;
        char p[600];
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
                snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
                unlink(p);
            }
        closedir(d);
    }
    rmdir(tmpdir);
    return 0;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* The names in tmpdir other than "." and ".." (space-separated, sorted). */
static void dir_listing(char *out, size_t len)
{
    char names[32][256];
    int n = 0;
    DIR *d = opendir(tmpdir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) && n < 32)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            snprintf(names[n++], sizeof names[0], "%s", e->d_name);
    closedir(d);
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char t[256];
                memcpy(t, names[i], sizeof t);
                memcpy(names[i], names[j], sizeof t);
                memcpy(names[j], t, sizeof t);
            }
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        strncat(out, i ? " " : "", len - strlen(out) - 1);
        strncat(out, names[i], len - strlen(out) - 1);
    }
}

static nn_history_cfg hist_cfg(const char *path, char sep, bool append)
{
    nn_history_cfg c;
    memset(&c, 0, sizeof c);
    c.enabled = true;
    snprintf(c.path, sizeof c.path, "%s", path);
    c.separator = sep;
    c.append = append;
    return c;
}

static void test_history_csv(void **state)
{
    (void)state;
    nn_history_cfg cfg = hist_cfg("history.csv", ',', false);
    nn_history h;
    nn_error err = {0};
    assert_int_equal(nn_history_open(&h, &cfg, tmpdir, &err), NN_OK);
    /* values that need all 17 digits to round-trip */
    const double loss0 = 0.1, acc0 = 1.0 / 3.0, loss1 = 2.0 / 3.0, acc1 = 0.7;
    nn_logs l;
    memset(&l, 0, sizeof l);
    nn_logs_set(&l, "loss", loss0);
    nn_logs_set(&l, "accuracy", acc0);
    nn_logs_set(&l, "lr", 0.001);
    assert_int_equal(nn_history_append(&h, 0, &l, 1.5, &err), NN_OK);
    char path[600];
    snprintf(path, sizeof path, "%s/history.csv", tmpdir);
    char *text = slurp(path);
    assert_non_null(text);
    /* written after the first epoch already (a crash keeps what is done) */
    assert_true(strncmp(text, "epoch,loss,accuracy,lr,time\n0,", 30) == 0);

    nn_logs_set(&l, "loss", loss1);
    nn_logs_set(&l, "accuracy", acc1);
    assert_int_equal(nn_history_append(&h, 1, &l, 0.25, &err), NN_OK);
    nn_history_close(&h);

    text = slurp(path);
    assert_non_null(text);
    /* header once, epochs from 0, one line per epoch, time with 3 decimals */
    char *line[4] = {0};
    int n = 0;
    for (char *s = strtok(text, "\n"); s && n < 4; s = strtok(NULL, "\n"))
        line[n++] = s;
    assert_int_equal(n, 3);
    assert_string_equal(line[0], "epoch,loss,accuracy,lr,time");
    const double want[2][3] = {{loss0, acc0, 0.001}, {loss1, acc1, 0.001}};
    const char *want_time[2] = {"1.500", "0.250"};
    for (int r = 0; r < 2; r++) {
        char *fields[8];
        int nf = 0;
        for (char *p = line[r + 1], *f; (f = strsep(&p, ",")) && nf < 8;)
            fields[nf++] = f;
        assert_int_equal(nf, 5);
        assert_int_equal(atoi(fields[0]), r);
        for (int k = 0; k < 3; k++) {
            /* %.17g round-trips: the parsed value is the same double */
            double v = strtod(fields[k + 1], NULL);
            if (v != want[r][k])
                fail_msg("row %d column %d: '%s' reads back as %.17g, not %.17g", r, k + 1,
                         fields[k + 1], v, want[r][k]);
        }
        assert_string_equal(fields[4], want_time[r]);
    }
    /* 1/3 needs 17 significant digits: 0.33333333333333331 */
    text = slurp(path);
    assert_has(text, "0.33333333333333331");

    /* rewritten atomically: no temporary file is left beside it */
    char names[1024];
    dir_listing(names, sizeof names);
    assert_string_equal(names, "history.csv");
}

static void test_history_append_and_separator(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof path, "%s/h2.csv", tmpdir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("epoch;loss;time\n0;1;0.100\n", f);
    fclose(f);
    /* append to a non-empty file: the old rows stay, no second header */
    nn_history_cfg cfg = hist_cfg("h2.csv", ';', true);
    nn_history h;
    nn_error err = {0};
    assert_int_equal(nn_history_open(&h, &cfg, tmpdir, &err), NN_OK);
    nn_logs l = one_log("loss", 0.5);
    assert_int_equal(nn_history_append(&h, 1, &l, 2.0, &err), NN_OK);
    nn_history_close(&h);
    assert_string_equal(slurp(path), "epoch;loss;time\n0;1;0.100\n1;0.5;2.000\n");

    /* append = false overwrites, and the separator applies to the header */
    cfg.append = false;
    assert_int_equal(nn_history_open(&h, &cfg, tmpdir, &err), NN_OK);
    l = one_log("loss", 0.25);
    assert_int_equal(nn_history_append(&h, 0, &l, 0.0, &err), NN_OK);
    nn_history_close(&h);
    assert_string_equal(slurp(path), "epoch;loss;time\n0;0.25;0.000\n");

    /* append to a file that does not exist yet: a header is written */
    nn_history_cfg fresh = hist_cfg("h3.csv", ',', true);
    assert_int_equal(nn_history_open(&h, &fresh, tmpdir, &err), NN_OK);
    assert_int_equal(nn_history_append(&h, 0, &l, 0.0, &err), NN_OK);
    nn_history_close(&h);
    snprintf(path, sizeof path, "%s/h3.csv", tmpdir);
    assert_string_equal(slurp(path), "epoch,loss,time\n0,0.25,0.000\n");

    /* disabled: no file */
    nn_history_cfg off = hist_cfg("h4.csv", ',', false);
    off.enabled = false;
    assert_int_equal(nn_history_open(&h, &off, tmpdir, &err), NN_OK);
    assert_int_equal(nn_history_append(&h, 0, &l, 0.0, &err), NN_OK);
    nn_history_close(&h);
    snprintf(path, sizeof path, "%s/h4.csv", tmpdir);
    assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es_auto_mode_direction),
        cmocka_unit_test(test_es_min_mode_with_min_delta),
        cmocka_unit_test(test_es_min_delta_boundary_and_sign),
        cmocka_unit_test(test_es_max_mode_via_auto),
        cmocka_unit_test(test_es_patience_counting),
        cmocka_unit_test(test_es_baseline),
        cmocka_unit_test(test_es_start_from_epoch),
        cmocka_unit_test(test_es_never_stops_at_epoch_0),
        cmocka_unit_test(test_es_missing_monitor_and_disabled),
        cmocka_unit_test(test_es_improving_epoch_never_stops),
        cmocka_unit_test(test_ck_save_best_only_min),
        cmocka_unit_test(test_ck_save_best_only_max),
        cmocka_unit_test(test_ck_every_epoch_and_paths),
        cmocka_unit_test(test_template_formatting),
        cmocka_unit_test_setup_teardown(test_history_csv, make_tmpdir, remove_tmpdir),
        cmocka_unit_test_setup_teardown(test_history_append_and_separator, make_tmpdir,
                                        remove_tmpdir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
