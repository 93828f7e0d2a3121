#!/usr/bin/env python3
"""The Keras mnist_cnn example (Conv 32 3x3, Conv 64 3x3, MaxPool 2, Dropout
0.25, Dense 128, Dropout 0.5, Dense 10; Adadelta lr 1.0, rho 0.95; batch
128; 12 epochs), run by real Keras 3 on this machine: the peer figure for
configs/mnist_cnn.cfg's accuracy target. --epsilon picks Adadelta's:
1e-6 (the default; the Adadelta paper's value, PyTorch's default, Keras
0.x-1.0's default, and what configs/mnist_cnn.cfg uses) or 1e-7 (Keras 2's
K.epsilon(), with which Keras 2's examples/mnist_cnn.py ran).

    KERAS_BACKEND=jax .venv/bin/python scripts/experiments/keras_mnist_cnn.py \
        --data $NNCTL_DATA/mnist [--seed 1] [--epochs 12] [--epsilon 1e-6]

Prints each epoch's test accuracy and, last, one line:
    keras mnist_cnn seed=S test_accuracy=... test_loss=...
"""
import argparse
import gzip
import os

import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--epsilon", type=float, default=1e-6)
    a = ap.parse_args()
    import keras
    from keras import layers
    keras.utils.set_random_seed(a.seed)
    d = a.data
    x = idx(os.path.join(d, "train-images-idx3-ubyte.gz")).astype("float32")[..., None] / 255
    y = keras.utils.to_categorical(idx(os.path.join(d, "train-labels-idx1-ubyte.gz")), 10)
    xt = idx(os.path.join(d, "t10k-images-idx3-ubyte.gz")).astype("float32")[..., None] / 255
    yt = keras.utils.to_categorical(idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz")), 10)
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        layers.Conv2D(32, 3, activation="relu"),
        layers.Conv2D(64, 3, activation="relu"),
        layers.MaxPooling2D(2),
        layers.Dropout(0.25),
        layers.Flatten(),
        layers.Dense(128, activation="relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ])
    model.compile(loss="categorical_crossentropy",
                  optimizer=keras.optimizers.Adadelta(learning_rate=1.0, rho=0.95,
                                                      epsilon=a.epsilon),
                  metrics=["accuracy"])
    h = model.fit(x, y, batch_size=128, epochs=a.epochs, verbose=2, validation_data=(xt, yt))
    loss, acc = model.evaluate(xt, yt, verbose=0)
    print("test accuracy per epoch:", " ".join("%.4f" % v for v in h.history["val_accuracy"]))
    print("keras mnist_cnn seed=%d epsilon=%g test_accuracy=%.4f test_loss=%.4f"
          % (a.seed, a.epsilon, acc, loss))


if __name__ == "__main__":
    main()
