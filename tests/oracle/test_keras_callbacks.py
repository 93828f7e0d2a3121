#!/usr/bin/env python3
"""Keras oracle for the learning-rate callbacks: nnctl's reduce_lr_on_plateau
and learning_rate_scheduler set the learning rates Keras's own
ReduceLROnPlateau and LearningRateScheduler (with Keras's schedule objects)
set, and both survive --resume exactly.

    KERAS_BACKEND=jax .venv/bin/python tests/oracle/test_keras_callbacks.py --nnctl build/nnctl

- reduce_lr_on_plateau: nnctl trains; the monitored values it logged
  (history.csv) are fed to Keras's ReduceLROnPlateau epoch by epoch, and the
  rate Keras's optimizer holds at each epoch must be history.csv's lr column
  (with patience, cooldown, min_lr, min_delta, and mode max on accuracy);
  each case must reduce at least twice, so the check cannot pass vacuously.
- learning_rate_scheduler, unit "epoch": history.csv's lr column equals the
  rates Keras's LearningRateScheduler sets from ExponentialDecay (staircase:
  nnctl's "step"), ExponentialDecay, CosineDecay with warm-up and
  PiecewiseConstantDecay evaluated at the epoch.
- unit "batch": the lr column equals the rate Keras's optimizer holds at
  each epoch's end in a fit where it was given the same schedule object,
  on the same number of steps per epoch.
- resume: a run stopped after some epochs and resumed (--resume, more
  epochs) writes the same history.csv (time aside) and the same weights as
  one run straight through.

Rates agree to 1e-6 relative (Keras keeps the rate in float32). Prints one
line per check and "keras-callbacks: N passed, M failed, 0 skipped".
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")
import numpy as np  # noqa: E402
import keras  # noqa: E402

NNCTL = WORK = None
passed = failed = 0


def check(name, fn):
    global passed, failed
    try:
        fn()
        passed += 1
        print("ok   " + name)
    except Exception as e:  # noqa: BLE001 - a failing check is reported, the rest run
        failed += 1
        print("FAIL %s: %s: %s" % (name, type(e).__name__, e))


def nnctl(*args):
    r = subprocess.run([NNCTL] + [str(a) for a in args], cwd=WORK, capture_output=True,
                       text=True, env=dict(os.environ, NNCTL_DATA=WORK))
    if r.returncode != 0:
        raise RuntimeError("nnctl %s: exit %d: %s" % (" ".join(map(str, args)), r.returncode,
                                                       r.stderr.strip()[-500:]))
    return r


def history(run):
    with open(os.path.join(WORK, run, "history.csv")) as f:
        return list(csv.DictReader(f))


def rates_close(got, want, what):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        raise AssertionError("%s: %d epochs, Keras %d" % (what, got.size, want.size))
    bad = np.abs(got - want) > 1e-6 * np.abs(want) + 1e-12
    if bad.any():
        i = int(np.argmax(bad))
        raise AssertionError("%s: epoch %d: nnctl %r, Keras %r (nnctl %s; Keras %s)"
                             % (what, i, got[i], want[i], list(got), list(want)))


SPEC = """
model: {{ name = "{name}"; input = {{ shape = [8]; }}; layers = (
  {{ type = "dense"; units = 16; activation = "relu"; }},
  {{ type = "dense"; units = 3; activation = "softmax"; }} ); }};
data: {{ train = {{ format = "npy"; x = "x.npy"; y = "y.npy"; }}; validation_split = 0.25; }};
train: {{ loss = "sparse_categorical_crossentropy";
  optimizer = {{ type = "sgd"; lr = {lr}; }};
  metrics = ["accuracy"]; epochs = {epochs}; batch_size = 32; seed = 1;
  callbacks = {{ {callbacks} }}; }};
"""


def write_spec(name, callbacks, epochs, lr=0.5):
    with open(os.path.join(WORK, name + ".cfg"), "w") as f:
        f.write(SPEC.format(name=name, callbacks=callbacks, epochs=epochs, lr=lr))


def train(name, run, *extra):
    return nnctl("train", name + ".cfg", "-o", run, "-q", "--threads", 2, *extra)


def keras_optimizer(lr):
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=lr), loss="mse")
    return m


def current_lr(m):
    return float(np.asarray(m.optimizer.learning_rate))


# ---- ReduceLROnPlateau -----------------------------------------------------------

PLATEAU = [
    # (tag, nnctl settings, Keras arguments, epochs, lr)
    ("patience 1, cooldown 1, min_lr",
     'monitor = "val_loss"; factor = 0.5; patience = 1; cooldown = 1; min_lr = 0.05;',
     dict(monitor="val_loss", factor=0.5, patience=1, cooldown=1, min_lr=0.05), 24, 0.5),
    ("patience 2, min_delta 0.01 on loss",
     'monitor = "loss"; factor = 0.3; patience = 2; min_delta = 0.01;',
     dict(monitor="loss", factor=0.3, patience=2, min_delta=0.01), 24, 0.5),
    ("mode max on val_accuracy, patience 0",
     'monitor = "val_accuracy"; mode = "max"; factor = 0.7; patience = 0; min_delta = 0.0;',
     dict(monitor="val_accuracy", mode="max", factor=0.7, patience=0, min_delta=0.0), 16, 0.5),
]


def plateau_case(i, settings, kwargs, epochs, lr):
    name = "plateau%d" % i
    write_spec(name, "reduce_lr_on_plateau = { %s };" % settings, epochs, lr)
    train(name, name)
    rows = history(name)
    got = [float(r["lr"]) for r in rows]
    m = keras_optimizer(lr)
    cb = keras.callbacks.ReduceLROnPlateau(**kwargs)
    cb.set_model(m)
    cb.on_train_begin()
    want = []
    for e, r in enumerate(rows):
        want.append(current_lr(m))
        cb.on_epoch_end(e, {kwargs["monitor"]: float(r[kwargs["monitor"]])})
    rates_close(got, want, "lr column")
    if len(set(want)) < 3:
        raise AssertionError("only %d distinct rates: the case does not exercise reductions "
                             "(%s)" % (len(set(want)), want))


# ---- LearningRateScheduler ---------------------------------------------------------

def schedules():
    S = keras.optimizers.schedules
    return [
        ("step", 'schedule = "step"; decay_steps = 3; decay_rate = 0.5;',
         S.ExponentialDecay(0.5, decay_steps=3, decay_rate=0.5, staircase=True)),
        ("exponential", 'schedule = "exponential"; decay_steps = 4; decay_rate = 0.3;',
         S.ExponentialDecay(0.5, decay_steps=4, decay_rate=0.3)),
        ("exponential staircase, initial_learning_rate",
         'schedule = "exponential"; decay_steps = 2; decay_rate = 0.8; staircase = true; '
         'initial_learning_rate = 0.2;',
         S.ExponentialDecay(0.2, decay_steps=2, decay_rate=0.8, staircase=True)),
        ("cosine", 'schedule = "cosine"; decay_steps = 8; alpha = 0.1;',
         S.CosineDecay(0.5, decay_steps=8, alpha=0.1)),
        ("cosine with warm-up",
         'schedule = "cosine"; decay_steps = 7; warmup_steps = 3; warmup_target = 0.8; '
         'initial_learning_rate = 0.05;',
         S.CosineDecay(0.05, decay_steps=7, warmup_steps=3, warmup_target=0.8)),
        ("piecewise", 'schedule = "piecewise"; boundaries = [2, 5, 7]; '
         'values = [0.5, 0.2, 0.05, 0.01];',
         S.PiecewiseConstantDecay([2, 5, 7], [0.5, 0.2, 0.05, 0.01])),
    ]


def scheduler_case(i, settings, schedule, epochs=12):
    name = "sched%d" % i
    write_spec(name, "learning_rate_scheduler = { %s };" % settings, epochs)
    train(name, name)
    got = [float(r["lr"]) for r in history(name)]
    m = keras_optimizer(0.5)
    cb = keras.callbacks.LearningRateScheduler(lambda epoch: float(schedule(epoch)))
    cb.set_model(m)
    want = []
    for e in range(epochs):
        cb.on_epoch_begin(e)
        want.append(current_lr(m))
    rates_close(got, want, "lr column")


def per_batch_case(i, settings, schedule, epochs=6):
    """unit = "batch": Keras's fit with the schedule given to the optimizer."""
    name = "batch%d" % i
    write_spec(name, "learning_rate_scheduler = { unit = \"batch\"; %s };" % settings, epochs)
    train(name, name)
    got = [float(r["lr"]) for r in history(name)]
    x = np.load(os.path.join(WORK, "x.npy"))[:300]  # the 300 training samples: 10 steps
    y = np.load(os.path.join(WORK, "y.npy"))[:300]
    m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="softmax")])
    m.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule),
              loss="sparse_categorical_crossentropy")
    want = []  # the optimizer's rate at each epoch's end, as a Keras user reads it
    rec = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: want.append(float(np.asarray(m.optimizer.learning_rate))))
    m.fit(x, y, batch_size=32, epochs=epochs, verbose=0, shuffle=False, callbacks=[rec])
    rates_close(got, want, "lr column")


# ---- resume --------------------------------------------------------------------------

RESUMES = [
    ("reduce_lr_on_plateau", 'reduce_lr_on_plateau = { monitor = "val_loss"; factor = 0.5; '
     'patience = 1; cooldown = 1; };', 14, 9),
    ("learning_rate_scheduler, cosine with warm-up per batch",
     'learning_rate_scheduler = { schedule = "cosine"; unit = "batch"; decay_steps = 100; '
     'warmup_steps = 30; warmup_target = 0.6; initial_learning_rate = 0.1; };', 14, 5),
]


def weights(run):
    import h5py
    out = {}
    with h5py.File(os.path.join(WORK, run, "model.h5")) as f:
        f["model_weights"].visititems(
            lambda n, o: out.__setitem__(n, o[()]) if hasattr(o, "shape") else None)
    return out


def resume_case(i, callbacks, epochs, stop_after):
    """Straight through, and stopped after stop_after epochs then resumed:
    the same history.csv (time aside) and weights. The case must resume at
    a rate the callback changed (state carried over) and change it again."""
    name = "resume%d" % i
    write_spec(name, callbacks, epochs)
    train(name, "straight%d" % i)
    whole = history("straight%d" % i)
    rates = [float(r["lr"]) for r in whole]
    if rates[stop_after] == rates[0] or len(set(rates[stop_after:])) < 2:
        raise AssertionError("the case must resume at a changed rate and change it again "
                             "after epoch %d: %s" % (stop_after, rates))
    split = "split%d" % i
    train(name, split, "--set", "train.epochs=%d" % stop_after)
    train(name, split, "--resume")
    cols = [k for k in whole[0] if k != "time"]
    a = [[r[k] for k in cols] for r in whole]
    b = [[r[k] for k in cols] for r in history(split)]
    for e in range(max(len(a), len(b))):
        if e >= len(a) or e >= len(b) or a[e] != b[e]:
            raise AssertionError("history.csv differs at epoch %d: straight %s, resumed %s"
                                 % (e, a[e] if e < len(a) else None, b[e] if e < len(b) else None))
    wa, wb = weights("straight%d" % i), weights(split)
    if not wa or sorted(wa) != sorted(wb):
        raise AssertionError("weights: %s vs %s" % (sorted(wa), sorted(wb)))
    for n in wa:
        if not np.array_equal(wa[n], wb[n]):
            raise AssertionError("weight %s differs" % n)


def main():
    global NNCTL, WORK
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nnctl", required=True)
    ap.add_argument("--keep", action="store_true")
    a = ap.parse_args()
    NNCTL = os.path.abspath(a.nnctl)
    WORK = tempfile.mkdtemp(prefix="nnctl-kcb.")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 8)).astype(np.float32)
    y = ((x[:, :3].sum(1) > 0).astype(np.int64) + (x[:, 3] > 0.5)).astype(np.int64)
    np.save(os.path.join(WORK, "x.npy"), x)
    np.save(os.path.join(WORK, "y.npy"), y)
    print("keras %s (%s backend)" % (keras.__version__, keras.backend.backend()))
    for i, (tag, settings, kwargs, epochs, lr) in enumerate(PLATEAU):
        check("reduce_lr_on_plateau (%s): the rates Keras's ReduceLROnPlateau sets from "
              "nnctl's logged values" % tag,
              lambda i=i, s=settings, k=kwargs, e=epochs, lr=lr: plateau_case(i, s, k, e, lr))
    for i, (tag, settings, schedule) in enumerate(schedules()):
        check("learning_rate_scheduler %s, per epoch: Keras's LearningRateScheduler's rates"
              % tag, lambda i=i, s=settings, sc=schedule: scheduler_case(i, s, sc))
    for i, (tag, settings, schedule) in enumerate(schedules()):
        if tag in ("step", "cosine with warm-up", "piecewise"):
            check("learning_rate_scheduler %s, per batch: the rates of Keras's optimizer "
                  "given the schedule, in fit" % tag,
                  lambda i=i, s=settings, sc=schedule: per_batch_case(i, s, sc))
    for i, (tag, cbs, epochs, stop) in enumerate(RESUMES):
        check("%s survives --resume exactly (history.csv with its lr column, and the weights)"
              % tag, lambda i=i, c=cbs, e=epochs, s=stop: resume_case(i, c, e, s))
    if a.keep:
        print("kept " + WORK)
    else:
        shutil.rmtree(WORK, ignore_errors=True)
    print("keras-callbacks: %d passed, %d failed, 0 skipped" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
