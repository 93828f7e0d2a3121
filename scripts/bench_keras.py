#!/usr/bin/env python3
"""The Keras twins of the worked examples, for scripts/bench-compare: the
same networks, optimizers and batch sizes as configs/mnist_mlp.cfg,
mnist_cnn.cfg, cifar10_cnn.cfg and mnist_lstm.cfg (augmentation, dropout
masks aside), trained with model.fit on the first SAMPLES training samples.

    .venv-tf/bin/python scripts/bench_keras.py --keras tf-keras --model mnist_cnn \\
        --data DATA_DIR [--samples N] [--epochs N] [--threads N] [--policy mixed_bfloat16]
    KERAS_BACKEND=jax .venv/bin/python scripts/bench_keras.py --keras keras3 ...

--keras tf-keras imports tf_keras (Keras 2 on TensorFlow, oneDNN inside);
keras3 imports keras with whatever KERAS_BACKEND says (jax here). --policy
sets keras.mixed_precision's global policy (float32 or mixed_bfloat16), the
softmax head kept float32 as Keras's guide does. Each epoch is timed by a
callback from its first batch's start to its end; the first is warm-up
(graph tracing, XLA compilation) for the caller to drop. DATA_DIR holds
mnist/ and cifar-10-binary.tar.gz. Prints one line per epoch and, last, one
JSON line: {"epoch_seconds": [...], "samples": N, "framework": "...", ...}.
"""
import argparse
import json
import os
import sys
import tarfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch_common import read_idx  # noqa: E402 (numpy only)


def load(data, model, samples):
    if model == "cifar10_cnn":
        xs, ys = [], []
        with tarfile.open(os.path.join(data, "cifar-10-binary.tar.gz")) as t:
            for i in range(1, 6):
                raw = t.extractfile(f"cifar-10-batches-bin/data_batch_{i}.bin").read()
                rec = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
                ys.append(rec[:, 0].astype(np.int64))
                # CHW as stored, to channels-last as nnctl and Keras read it
                xs.append(rec[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        x, y = np.concatenate(xs), np.concatenate(ys)
    else:
        x = read_idx(os.path.join(data, "mnist", "train-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data, "mnist", "train-labels-idx1-ubyte.gz")).astype(np.int64)
        x = {"mnist_mlp": x.reshape(-1, 784), "mnist_cnn": x.reshape(-1, 28, 28, 1),
             "mnist_lstm": x.reshape(-1, 28, 28)}[model]
    n = min(samples, len(x)) if samples else len(x)
    return x[:n].astype(np.float32) / 255.0, y[:n]


def build(keras, model):
    L = keras.layers
    head = L.Dense(10, activation="softmax", dtype="float32")
    if model == "mnist_mlp":
        layers = [keras.Input((784,)), L.Dense(512, activation="relu"), L.Dropout(0.2),
                  L.Dense(512, activation="relu"), L.Dropout(0.2), head]
        opt = keras.optimizers.RMSprop(learning_rate=0.001)
        batch, loss = 128, "categorical_crossentropy"
    elif model == "mnist_cnn":
        layers = [keras.Input((28, 28, 1)), L.Conv2D(32, 3, activation="relu"),
                  L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25),
                  L.Flatten(), L.Dense(128, activation="relu"), L.Dropout(0.5), head]
        opt = keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95, epsilon=1e-6)
        batch, loss = 128, "categorical_crossentropy"
    elif model == "cifar10_cnn":
        layers = [keras.Input((32, 32, 3)), L.Conv2D(32, 3, padding="same", activation="relu"),
                  L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25),
                  L.Conv2D(64, 3, padding="same", activation="relu"),
                  L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Dropout(0.25),
                  L.Flatten(), L.Dense(512, activation="relu"), L.Dropout(0.5), head]
        opt = keras.optimizers.RMSprop(learning_rate=1e-4)
        batch, loss = 32, "categorical_crossentropy"
    else:  # mnist_lstm
        layers = [keras.Input((28, 28)), L.LSTM(128), head]
        opt = keras.optimizers.Adam(learning_rate=0.001, clipnorm=1.0)
        batch, loss = 128, "sparse_categorical_crossentropy"
    m = keras.Sequential(layers)
    m.compile(optimizer=opt, loss=loss, metrics=["accuracy"])
    return m, batch, loss


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keras", choices=("tf-keras", "keras3"), required=True)
    ap.add_argument("--model", choices=("mnist_mlp", "mnist_cnn", "cifar10_cnn", "mnist_lstm"),
                    required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--samples", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--policy", default="float32", choices=("float32", "mixed_bfloat16"))
    a = ap.parse_args()
    if a.keras == "tf-keras":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf
        import tf_keras as keras
        tf.config.threading.set_intra_op_parallelism_threads(a.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        framework = f"tf-keras {keras.__version__} (TensorFlow {tf.__version__})"
    else:
        # XLA's CPU thread pool: as many threads as the others get
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_cpu_multi_thread_eigen=true"
                                   f" intra_op_parallelism_threads={a.threads}")
        import keras
        framework = f"Keras {keras.__version__} ({keras.backend.backend()})"
    keras.utils.set_random_seed(1)
    keras.mixed_precision.set_global_policy(a.policy)
    x, y = load(a.data, a.model, a.samples)
    model, batch, loss = build(keras, a.model)
    if loss == "categorical_crossentropy":
        y = np.eye(10, dtype=np.float32)[y]
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.t0)
            print(f"{a.keras} {a.policy} epoch {epoch + 1}/{a.epochs}: {times[-1]:.3f}s - "
                  f"loss: {logs.get('loss', float('nan')):.4f}", flush=True)

    model.fit(x, y, batch_size=batch, epochs=a.epochs, shuffle=True, verbose=0,
              callbacks=[Timer()])
    print(json.dumps({"epoch_seconds": times, "samples": len(x), "threads": a.threads,
                      "framework": framework, "policy": a.policy, "model": a.model}))


if __name__ == "__main__":
    main()
