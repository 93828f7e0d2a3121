#!/usr/bin/python3
"""The PyTorch twin of configs/mnist_mlp.cfg, for scripts/bench.

    /usr/bin/python3 scripts/bench_torch_mlp.py --data DIR [--epochs N] [--threads N]

Trains 784-512-512-10 (ReLU, Dropout 0.2) with RMSprop(lr=1e-3, alpha=0.9,
eps=1e-7) -- Keras's RMSprop defaults -- on the MNIST training set (pixels /
255, batch 128, shuffled each epoch), and times each epoch. DIR holds
train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz.

Prints one line per epoch and, last, one JSON line:
    {"epoch_seconds": [...], "samples": 60000, "threads": 2, "torch": "1.13.0"}
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn


def read_idx(path):
    """An IDX file (optionally gzip'ed) as a numpy array."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if arr.size != int(np.prod(dims)):
        raise ValueError(f"{path}: header says {dims}, file has {arr.size} values")
    return arr.reshape(dims)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with the MNIST IDX .gz files")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    images = os.path.join(args.data, "train-images-idx3-ubyte.gz")
    labels = os.path.join(args.data, "train-labels-idx1-ubyte.gz")
    for p in (images, labels):
        if not os.path.isfile(p):
            sys.exit(f"bench_torch_mlp: {p} not found (scripts/fetch-data mnist)")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    x = torch.from_numpy(read_idx(images).reshape(-1, 784).astype(np.float32) / 255.0)
    y = torch.from_numpy(read_idx(labels).astype(np.int64))
    n = x.shape[0]

    model = nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 10),
    )
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    bs = args.batch_size

    times = []
    model.train()
    for epoch in range(args.epochs):
        t0 = time.perf_counter()
        perm = torch.from_numpy(rng.permutation(n))
        xs, ys = x[perm], y[perm]
        loss_sum = 0.0
        correct = 0
        for i in range(0, n, bs):
            xb, yb = xs[i:i + bs], ys[i:i + bs]
            out = model(xb)
            loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * xb.shape[0]
            correct += (out.argmax(1) == yb).sum().item()
        dt = time.perf_counter() - t0
        times.append(dt)
        print(f"torch epoch {epoch + 1}/{args.epochs}: {dt:.3f}s - loss: {loss_sum / n:.4f}"
              f" - accuracy: {correct / n:.4f}", flush=True)

    print(json.dumps({"epoch_seconds": times, "samples": n, "threads": torch.get_num_threads(),
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
