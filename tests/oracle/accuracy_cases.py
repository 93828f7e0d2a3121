"""What "accuracy" means, for every loss nnctl has and every output width a
Keras user gives it: Keras (3, or tf-keras for Keras 2) compiles a model
with metrics=["accuracy"] and saves it; `nnctl eval model.h5 --spec
data.cfg --json` on the same file and data must give model.evaluate's loss
and accuracy. Keras resolves "accuracy" from the output and the targets
(binary for one unit, sparse categorical for integer labels against
several units, categorical for rows), whatever the loss: hinge on a
4-unit softmax is categorical accuracy, not binary.

Keras before tf.keras 2.2 (standalone Keras 2.0-2.3, whose files say
keras_version "2.2.4" and the like) resolved it from the loss instead:
binary_crossentropy meant binary accuracy whatever the width. No peer
here runs that Keras, so that case is checked by hand (numpy) on the
tf-keras file relabelled keras_version "2.2.4".

Used by test_keras.py (Keras 3) and test_tf_keras.py (tf-keras):
    run(keras, nnctl, work, report)   report(ok, name, detail)
"""
import json
import os
import subprocess

import h5py
import numpy as np

LOSSES = ["mse", "mae", "mape", "msle", "hinge", "squared_hinge", "binary_crossentropy",
          "categorical_crossentropy", "sparse_categorical_crossentropy", "categorical_hinge",
          "kl_divergence", "poisson", "log_cosh", "huber", "cosine_similarity"]
ONE_HOT_ONLY = ("categorical_crossentropy", "categorical_hinge", "kl_divergence")
N = 240


def cases():
    """(loss, units, activation, targets): targets "labels01" (0/1 integer
    labels), "onehot" (one-hot float rows), "labels" (integer class
    labels), "labels_onehot" (integer labels that nnctl makes one-hot,
    data.one_hot = true; Keras is given the one-hot rows), "multihot"
    (several 0/1 floats a row: multi-label)."""
    out = []
    for loss in LOSSES:
        if loss == "sparse_categorical_crossentropy":
            out += [(loss, 4, "softmax", "labels")]
            continue
        if loss not in ONE_HOT_ONLY:  # (nnctl refuses these on one unit)
            out += [(loss, 1, "sigmoid", "labels01")]
        out += [(loss, 4, "softmax", "onehot"), (loss, 4, "sigmoid", "multihot")]
        if loss == "categorical_crossentropy":
            out += [(loss, 4, "softmax", "labels_onehot")]
    return out


def targets(kind, rng):
    """(what Keras is given, what nnctl reads from y.npy, data.one_hot)."""
    if kind == "labels01":
        y = rng.integers(0, 2, size=N)
        return y.reshape(-1, 1).astype(np.float32), y.astype(np.int64), None
    if kind == "labels":
        y = rng.integers(0, 4, size=N)
        return y.astype(np.int64), y.astype(np.int64), None
    if kind == "labels_onehot":
        y = rng.integers(0, 4, size=N)
        return np.eye(4, dtype=np.float32)[y], y.astype(np.int64), "true"
    if kind == "onehot":
        y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, size=N)]
        return y, y, None
    y = (rng.random((N, 4)) < 0.4).astype(np.float32)  # multihot
    return y, y, None


def run(keras, nnctl, work, report):
    rng = np.random.default_rng(1414)
    x = rng.normal(size=(N, 6)).astype(np.float32)
    np.save(os.path.join(work, "acc_x.npy"), x)
    legacy = None
    for i, (loss, units, act, kind) in enumerate(cases()):
        name = "accuracy: %s, %d %s unit%s, %s targets" % (loss, units, act,
                                                           "s" if units > 1 else "", kind)
        try:
            ky, ny, one_hot = targets(kind, rng)
            m = keras.Sequential([keras.Input(shape=(6,)),
                                  keras.layers.Dense(units, activation=act, name="out")])
            # weights small enough that no probability nears Keras's clipping
            # of cross-entropy's inputs (1e-7): that is another question
            m.set_weights([rng.normal(size=(6, units)).astype(np.float32) * 0.5,
                           rng.normal(size=units).astype(np.float32) * 0.3])
            m.compile(loss=loss, optimizer="sgd", metrics=["accuracy"], run_eagerly=True)
            # evaluated before saving, as fit() would have: tf-keras resolves
            # "accuracy" when it first sees targets, and a model saved before
            # that records categorical_accuracy whatever the targets
            m.evaluate(x, ky, verbose=0, batch_size=N)
            model = os.path.join(work, "acc_%d.h5" % i)
            m.save(model)
            # the oracle: Keras's evaluate of the file, compiled from its
            # training_config as nnctl reads it (Keras 3 cannot load a legacy
            # .h5 whose compile config names "mse" and the like: there, the
            # model compiled with those same arguments)
            k = keras.models.load_model(model) if keras.__version__.startswith("2.") else m
            want = k.evaluate(x, ky, verbose=0, batch_size=N, return_dict=True)
            np.save(os.path.join(work, "acc_y%d.npy" % i), ny)
            cfg = os.path.join(work, "acc_%d.cfg" % i)
            with open(cfg, "w") as f:
                f.write('data: { test = { format = "npy"; x = "acc_x.npy"; y = "acc_y%d.npy"; };%s };\n'
                        % (i, " one_hot = %s;" % one_hot if one_hot else ""))
            got = eval_json(nnctl, work, model, cfg)
            acc = [v for k, v in want.items() if "acc" in k]
            detail = "nnctl loss %.6g accuracy %.6g, Keras %s" % (got["loss"], got.get("accuracy", np.nan), want)
            # tf-keras computes a cross-entropy from the layer's logits when
            # the activation before it is the other one (binary on softmax,
            # categorical on sigmoid): not the loss of the outputs. Its
            # accuracy is still the oracle's; its loss is not compared.
            logits_quirk = keras.__version__.startswith("2.") and (
                (loss, act) in (("binary_crossentropy", "softmax"),
                                ("categorical_crossentropy", "sigmoid")))
            ok = (len(acc) == 1 and "accuracy" in got
                  and abs(got["accuracy"] - acc[0]) < 1e-6
                  and (logits_quirk or
                       abs(got["loss"] - want["loss"]) <= 1e-5 * max(1.0, abs(want["loss"]))))
            report(ok, name, detail)
            if (loss, units, act) == ("binary_crossentropy", 4, "sigmoid"):
                legacy = (model, cfg, x, ny, m)
        except Exception as e:  # noqa: BLE001 - report and go on
            report(False, name, "%s: %s" % (type(e).__name__, e))
    if legacy and keras.__version__.startswith("2."):
        old_keras(nnctl, work, legacy, report)


def eval_json(nnctl, work, model, cfg):
    r = subprocess.run([nnctl, "eval", model, "--spec", cfg, "--json", "--threads", "2"],
                       capture_output=True, text=True, cwd=work, timeout=300,
                       env=dict(os.environ, NNCTL_DATA=work))
    if r.returncode != 0:
        raise RuntimeError("nnctl eval: exit %d: %s" % (r.returncode, r.stderr.strip()[-400:]))
    return json.loads(r.stdout)


def old_keras(nnctl, work, legacy, report):
    """The same 4-unit sigmoid binary_crossentropy model as written by Keras
    2.2.4: "accuracy" is binary accuracy there (the mean over every unit of
    (p > 0.5) == y), logged as binary_accuracy."""
    model, cfg, x, y, m = legacy
    old = os.path.join(work, "acc_keras224.h5")
    with open(model, "rb") as src, open(old, "wb") as dst:
        dst.write(src.read())
    with h5py.File(old, "r+") as f:
        f.attrs["keras_version"] = "2.2.4"
    name = "accuracy: a Keras 2.2.4 file with binary_crossentropy on 4 units keeps binary accuracy"
    try:
        p = m.predict(x, verbose=0)
        want = float(np.mean((p > 0.5) == (y > 0.5)))
        cat = float(np.mean(np.argmax(p, 1) == np.argmax(y, 1)))
        got = eval_json(nnctl, work, old, cfg)
        report("binary_accuracy" in got and abs(got["binary_accuracy"] - want) < 1e-6
               and abs(want - cat) > 0.05, name,
               "nnctl %s, numpy binary %.6g (categorical %.6g)" % (got, want, cat))
    except Exception as e:  # noqa: BLE001
        report(False, name, "%s: %s" % (type(e).__name__, e))
