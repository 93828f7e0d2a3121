#!/usr/bin/python3
"""The PyTorch twin of configs/mnist_lstm.cfg (and mnist_gru / mnist_rnn),
for scripts/bench-rnn.

    /usr/bin/python3 scripts/bench_torch_rnn.py --data DIR [--cell lstm|gru|rnn]
                     [--epochs N] [--threads N]

MNIST images as 28 timesteps of 28 pixels (/255), one recurrent layer of
128 units (torch.nn.LSTM / GRU -- Keras's GRU with reset_after = true -- or
RNN with tanh), its last state into Linear(128, 10), cross-entropy on the
logits, Adam(lr=1e-3, eps=1e-7: Keras's defaults) with every gradient
tensor clipped to norm 1 (Keras's clipnorm), batch 128, shuffled each
epoch, all 60000 training images. Prints one line per epoch and, last, one
JSON line: {"epoch_seconds": [...], "samples": 60000, "threads": 2, ...}
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


class Net(nn.Module):
    def __init__(self, cell):
        super().__init__()
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[cell]
        self.rnn = kind(28, 128, batch_first=True)
        self.head = nn.Linear(128, 10)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.head(out[:, -1, :])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder with the MNIST IDX .gz files")
    ap.add_argument("--cell", choices=("lstm", "gru", "rnn"), default="lstm")
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
            sys.exit(f"bench_torch_rnn: {p} not found (scripts/fetch-data mnist)")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x = torch.from_numpy(read_idx(images).reshape(-1, 28, 28).astype(np.float32) / 255.0)
    y = torch.from_numpy(read_idx(labels).astype(np.int64))
    if args.samples:
        x, y = x[:args.samples], y[:args.samples]
    n = x.shape[0]

    model = Net(args.cell)
    params = list(model.parameters())
    opt = torch.optim.Adam(params, lr=1e-3, eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    bs = args.batch_size
    perm = lambda n: torch.from_numpy(rng.permutation(n))  # noqa: E731

    def clip():  # Keras's clipnorm: each tensor on its own
        for p in params:
            torch.nn.utils.clip_grad_norm_([p], 1.0)

    times, _, _ = fit_timed(model, opt, loss_fn, x, y, args.epochs, bs, perm,
                            after_backward=clip, autocast=args.autocast)
    print(json.dumps({"epoch_seconds": times, "samples": n, "threads": torch.get_num_threads(),
                      "torch": torch.__version__, "cell": args.cell,
                      "autocast": args.autocast}))


if __name__ == "__main__":
    main()
