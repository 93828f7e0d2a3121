#!/usr/bin/python3
"""The PyTorch twins of configs/mnist_cnn.cfg and configs/cifar10_cnn.cfg,
for scripts/bench-cnn.

    /usr/bin/python3 scripts/bench_torch_cnn.py --data MNIST_DIR --model mnist_cnn
    /usr/bin/python3 scripts/bench_torch_cnn.py --data MNIST_DIR --model cifar10_cnn --cifar TAR_GZ
                     [--epochs N] [--threads N] [--batch-size B]

mnist_cnn: Conv(32, 3x3) ReLU, Conv(64, 3x3) ReLU, MaxPool 2, Dropout 0.25,
Dense 128 ReLU, Dropout 0.5, Dense 10; Adadelta(lr=1, rho=0.95, eps=1e-6);
batch 128; the 60,000 MNIST training images / 255.
cifar10_cnn: Conv 32 same, Conv 32, MaxPool, Dropout, Conv 64 same, Conv 64,
MaxPool, Dropout, Dense 512, Dropout 0.5, Dense 10; RMSprop(lr=1e-4,
alpha=0.9, eps=1e-7); batch 32; the 50,000 CIFAR-10 training images / 255
(no augmentation on either side: scripts/bench-cnn turns nnctl's off for both).
Cross-entropy on the logits. Prints one line per epoch and, last, one JSON
line: {"epoch_seconds": [...], "samples": N, "threads": T, "torch": "..."}.
MNIST_DIR holds the IDX .gz files; TAR_GZ is cifar-10-binary.tar.gz.
"""
import argparse
import json
import os
import sys
import tarfile

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch_common import add_twin_args, fit_timed, read_idx  # noqa: E402


def load(data, model, cifar):
    if model == "mnist_cnn":
        x = read_idx(os.path.join(data, "train-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(data, "train-labels-idx1-ubyte.gz"))
        return x.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0, y.astype(np.int64)
    xs, ys = [], []
    if not cifar:
        sys.exit("bench_torch_cnn: --model cifar10_cnn needs --cifar TAR_GZ")
    with tarfile.open(cifar) as t:
        for i in range(1, 6):
            raw = t.extractfile(f"cifar-10-batches-bin/data_batch_{i}.bin").read()
            rec = np.frombuffer(raw, np.uint8).reshape(-1, 3073)
            ys.append(rec[:, 0].astype(np.int64))
            xs.append(rec[:, 1:].reshape(-1, 3, 32, 32))
    return np.concatenate(xs).astype(np.float32) / 255.0, np.concatenate(ys)


def net(model):
    if model == "mnist_cnn":
        return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                             nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                             nn.Linear(9216, 128), nn.ReLU(), nn.Dropout(0.5),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3),
                         nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                         nn.Linear(2304, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--model", choices=("mnist_cnn", "cifar10_cnn"), required=True)
    ap.add_argument("--cifar", help="cifar-10-binary.tar.gz (for cifar10_cnn)")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    add_twin_args(ap)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)
    xn, yn = load(a.data, a.model, a.cifar)
    if a.samples:
        xn, yn = xn[:a.samples], yn[:a.samples]
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    n = x.shape[0]
    model = net(a.model)
    if a.model == "mnist_cnn":
        opt = torch.optim.Adadelta(model.parameters(), lr=1.0, rho=0.95, eps=1e-6)
        bs = a.batch_size or 128
    else:
        opt = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
        bs = a.batch_size or 32
    loss_fn = nn.CrossEntropyLoss()
    perm = lambda n: torch.from_numpy(rng.permutation(n))  # noqa: E731
    times, _, _ = fit_timed(model, opt, loss_fn, x, y, a.epochs, bs, perm, autocast=a.autocast)
    print(json.dumps({"epoch_seconds": times, "samples": n, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "model": a.model,
                      "autocast": a.autocast}))


if __name__ == "__main__":
    main()
