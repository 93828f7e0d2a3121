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
import json
import os
import sys

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch_common import add_twin_args, fit_timed, read_idx  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with the MNIST IDX .gz files")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    add_twin_args(ap)
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
    if args.samples:
        x, y = x[:args.samples], y[:args.samples]
    n = x.shape[0]

    model = nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2),
        nn.Linear(512, 10),
    )
    opt = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    bs = args.batch_size

    perm = lambda n: torch.from_numpy(rng.permutation(n))  # noqa: E731
    times, _, _ = fit_timed(model, opt, loss_fn, x, y, args.epochs, bs, perm,
                            autocast=args.autocast)

    print(json.dumps({"epoch_seconds": times, "samples": n, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "autocast": args.autocast}))


if __name__ == "__main__":
    main()
