"""What the PyTorch twins in scripts/bench_torch_*.py share: the MNIST IDX
reader and the timed training loop (shuffle each epoch, one optimizer step a
batch, the loss and accuracy read back every step as nnctl does)."""
import gzip
import struct
import time


def read_idx(path):
    """An IDX file (optionally gzip'ed) as a numpy array."""
    import numpy as np  # here: the GPU twin imports this module without numpy
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


def add_twin_args(ap):
    """The options every CPU twin takes for scripts/bench-compare."""
    ap.add_argument("--samples", type=int, default=0,
                    help="train on the first N samples (default: all)")
    ap.add_argument("--autocast", action="store_true",
                    help="bf16 autocast (torch.autocast('cpu', torch.bfloat16)) around the "
                         "forward pass and the loss")


def fit_timed(model, opt, loss_fn, x, y, epochs, batch, permutation,
              after_backward=None, device=None, sync=None, verbose=True, autocast=False):
    """Trains for `epochs` epochs; permutation(n) gives each epoch's order
    (a LongTensor); after_backward(), when given, runs between backward and
    the step (gradient clipping); device moves each batch there; autocast
    runs the forward pass and the loss under bf16 autocast (PyTorch's mixed
    precision on CPUs). Returns (seconds per epoch, last epoch's mean loss,
    last epoch's accuracy)."""
    import contextlib
    import torch
    sync = sync or (lambda: None)
    mixed = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if autocast else \
        contextlib.nullcontext
    n = x.shape[0]
    times, loss_mean, accuracy = [], None, None
    model.train()
    for epoch in range(epochs):
        perm = permutation(n)
        sync()
        t0 = time.perf_counter()
        loss_sum, correct = 0.0, 0
        for i in range(0, n, batch):
            idx = perm[i:i + batch]
            xb, yb = x[idx], y[idx]
            if device is not None:
                xb, yb = xb.to(device), yb.to(device)
            with mixed():
                out = model(xb)
                loss = loss_fn(out, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if after_backward:
                after_backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        sync()
        times.append(time.perf_counter() - t0)
        loss_mean, accuracy = loss_sum / n, correct / n
        if verbose:
            print(f"torch epoch {epoch + 1}/{epochs}: {times[-1]:.3f}s - loss: {loss_mean:.4f}"
                  f" - accuracy: {accuracy:.4f}", flush=True)
    return times, loss_mean, accuracy
