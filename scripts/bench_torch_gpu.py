#!/usr/bin/env python3
"""The networks of configs/mnist_cnn.cfg and configs/cifar10_cnn.cfg in
PyTorch eager on the GPU, for scripts/gpu-check's comparison with
nnctl --engine gpu on the same machine:

    python3 scripts/bench_torch_gpu.py --net mnist_cnn|cifar10_cnn --data DIR
        [--epochs 3] [--batch-size N] [--tf32] [--device cuda:0]

DIR holds mnist/*-ubyte.gz and cifar-10-binary.tar.gz (scripts/gpu-bundle's
subsets, or the full sets). Prints one JSON line: the network, batch size,
sample count, seconds per epoch, images_per_s (the mean over the epochs
after the first, which includes cuDNN's algorithm search), versions.

The loop does what nnctl's does per step, so the comparison is of the
engines: batches gathered on the host (float32, scaled by 1/255) and copied
up, the loss and accuracy read back every step, the same optimizer and
hyper-parameters, FP32 with TF32 off (as nnctl) unless --tf32, and cuDNN's
algorithm search on (nnctl searches too). Keras's initializers are not
reproduced: this measures speed, not accuracy.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import tarfile


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch_common import fit_timed  # noqa: E402


def load_mnist(data, torch):
    def idx(name):
        with gzip.open(os.path.join(data, "mnist", name), "rb") as f:
            raw = bytearray(f.read())
        dims = raw[3]
        shape = struct.unpack(">" + "I" * dims, raw[4:4 + 4 * dims])
        return torch.frombuffer(raw, dtype=torch.uint8, offset=4 + 4 * dims).reshape(shape)

    x = idx("train-images-idx3-ubyte.gz")[:, None, :, :]  # N, 1, 28, 28
    y = idx("train-labels-idx1-ubyte.gz")
    return x, y


def load_cifar(data, torch):
    xs, ys = [], []
    with tarfile.open(os.path.join(data, "cifar-10-binary.tar.gz")) as t:
        for m in sorted(t.getmembers(), key=lambda m: m.name):
            if os.path.basename(m.name).startswith("data_batch_"):
                raw = bytearray(t.extractfile(m).read())
                rec = torch.frombuffer(raw, dtype=torch.uint8).reshape(-1, 3073)
                ys.append(rec[:, 0])
                xs.append(rec[:, 1:].reshape(-1, 3, 32, 32))  # planar RGB: already NCHW
    return torch.cat(xs), torch.cat(ys)


def build(net, nn):
    if net == "mnist_cnn":  # Keras mnist_cnn
        model = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
            nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
            nn.Linear(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10))
        return model, ("adadelta", dict(lr=1.0, rho=0.95, eps=1e-6))
    model = nn.Sequential(  # Keras cifar10_cnn
        nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 64, 3), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
        nn.Linear(64 * 6 * 6, 512), nn.ReLU(), nn.Dropout(0.5), nn.Linear(512, 10))
    return model, ("rmsprop", dict(lr=1e-4, alpha=0.9, eps=1e-7))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", required=True, choices=["mnist_cnn", "cifar10_cnn"])
    ap.add_argument("--data", required=True, help="directory with mnist/ and cifar-10-binary.tar.gz")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=None, help="default: the config's (128, 32)")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in convolutions and products")
    ap.add_argument("--device", default="cuda:0",
                    help="a CUDA device; 'cpu' only checks this script where there is no GPU")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    if a.epochs < 2:
        ap.error("--epochs must be at least 2 (the first epoch is warm-up)")
    batch = a.batch_size or (128 if a.net == "mnist_cnn" else 32)
    if batch < 1:
        ap.error("--batch-size must be positive")

    try:
        import torch
        from torch import nn
    except ImportError as e:
        sys.exit(f"bench_torch_gpu: PyTorch is not installed ({e})")
    dev = torch.device(a.device)
    cuda = dev.type == "cuda"
    if cuda and not torch.cuda.is_available():
        sys.exit("bench_torch_gpu: no CUDA device for PyTorch (torch.cuda.is_available() is False)")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = a.tf32
    torch.backends.cuda.matmul.allow_tf32 = a.tf32
    torch.manual_seed(a.seed)

    x, y = load_mnist(a.data, torch) if a.net == "mnist_cnn" else load_cifar(a.data, torch)
    x_host = x.float() / 255.0
    y_host = y.long()
    n = x_host.shape[0]
    model, (opt_name, opt_args) = build(a.net, nn)
    model = model.to(dev)
    opt = (torch.optim.Adadelta if opt_name == "adadelta" else torch.optim.RMSprop)(
        model.parameters(), **opt_args)
    loss_fn = nn.CrossEntropyLoss()

    epoch_s, last_loss, last_accuracy = fit_timed(
        model, opt, loss_fn, x_host, y_host, a.epochs, batch, torch.randperm,
        device=dev, sync=sync, verbose=False)
    later = epoch_s[1:]
    print(json.dumps({
        "net": a.net, "batch": batch, "samples": n,
        "epoch_seconds": [round(s, 4) for s in epoch_s],
        "images_per_s": n / (sum(later) / len(later)),
        "final_loss": round(last_loss, 5), "final_accuracy": round(last_accuracy, 5),
        "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
        "gpu": torch.cuda.get_device_name(dev) if cuda else "cpu", "tf32": a.tf32,
    }))


if __name__ == "__main__":
    main()
