"""scripts/bench-applications' body: see that script for what it measures."""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

FAMILIES = {
    "resnet50": ("ResNet50", {}),
    "mobilenet_v2": ("MobileNetV2", {}),
    "efficientnet_b0": ("EfficientNetB0", {}),
}
SIZE = 224


def build(name, path):
    import keras
    keras.utils.set_random_seed(1)
    cls, kw = FAMILIES[name]
    m = getattr(keras.applications, cls)(weights=None, input_shape=(SIZE, SIZE, 3), **kw)
    m.save(path)
    return m


def nnctl_run(nnctl, model, x_path, batch, threads, out):
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "%M", nnctl, "predict", model, x_path, "-o", out,
                        "--batch-size", str(batch), "--threads", str(threads)],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit("nnctl predict: %s" % r.stderr.strip())
    return wall, int(r.stderr.strip().splitlines()[-1]) / 1024.0


def nnctl_per_image(nnctl, model, tmp, batch, threads, k):
    """Seconds per image: (t(4k batches) - t(k batches)) / (3k * batch)."""
    rng = np.random.default_rng(2)
    times, rss = {}, 0.0
    for n in (k * batch, 4 * k * batch):
        x = os.path.join(tmp, "x%d.npy" % n)
        np.save(x, rng.normal(size=(n, SIZE, SIZE, 3)).astype(np.float32))
        best = None
        for _ in range(2):
            t, m = nnctl_run(nnctl, model, x, batch, threads, os.path.join(tmp, "y.npy"))
            best = t if best is None else min(best, t)
            rss = max(rss, m)
        times[n] = best
    return (times[4 * k * batch] - times[k * batch]) / (3 * k * batch), rss


def median_call(fn, calls=5, warm=2):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return float(np.median(ts))


def peer(kind, model_path, onnx_path, batch, threads):
    """Runs in a child process: prints seconds per image and peak RSS (MiB)."""
    x = np.random.default_rng(3).normal(size=(batch, SIZE, SIZE, 3)).astype(np.float32)
    if kind == "ort":
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        s = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        name = s.get_inputs()[0].name
        t = median_call(lambda: s.run(None, {name: x}))
    else:
        import keras
        m = keras.models.load_model(model_path, compile=False)
        t = median_call(lambda: np.asarray(m.predict_on_batch(x)))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("%.9f %.1f" % (t / batch, rss))


def run_peer(kind, model_path, onnx_path, batch, threads):
    env = dict(os.environ, KERAS_BACKEND="jax", OMP_NUM_THREADS=str(threads),
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=%d"
               % threads)
    r = subprocess.run([sys.executable, __file__, "--peer", kind, model_path, onnx_path,
                        str(batch), str(threads)], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit("%s: %s" % (kind, r.stderr.strip()[-2000:]))
    t, rss = r.stdout.split()[-2:]
    return float(t), float(rss)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl", default="build/nnctl")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--models", default="resnet50,mobilenet_v2,efficientnet_b0")
    ap.add_argument("--peer", nargs=5)
    a = ap.parse_args()
    if a.peer:
        kind, mp, op, b, t = a.peer
        peer(kind, mp, op, int(b), int(t))
        return
    nnctl = os.path.abspath(a.nnctl)
    tmp = tempfile.mkdtemp(prefix="nnctl-bench-apps.")
    try:
        print("# %d threads, %d cores, load average %s, %s" % (
            a.threads, os.cpu_count(), " ".join(open("/proc/loadavg").read().split()[:3]),
            subprocess.run([nnctl, "--version"], capture_output=True, text=True)
            .stdout.splitlines()[0]))
        print("| network | batch | nnctl img/s | onnxruntime img/s | Keras 3 (JAX) img/s "
              "| peak RSS nnctl / ort / JAX (MiB) |")
        print("|---|---|---|---|---|---|")
        for name in a.models.split(","):
            h5 = os.path.join(tmp, name + ".h5")
            onnx = os.path.join(tmp, name + ".onnx")
            m = build(name, h5)
            # nnctl agrees with Keras on this file before it is timed
            x = np.random.default_rng(4).normal(size=(2, SIZE, SIZE, 3)).astype(np.float32)
            np.save(os.path.join(tmp, "check.npy"), x)
            subprocess.run([nnctl, "predict", h5, os.path.join(tmp, "check.npy"), "-o",
                            os.path.join(tmp, "check_out.npy")], check=True,
                           capture_output=True)
            got = np.load(os.path.join(tmp, "check_out.npy"))
            want = np.asarray(m.predict(x, verbose=0))
            if not np.allclose(got, want, rtol=1e-3, atol=1e-5):
                raise SystemExit("%s: nnctl's outputs differ from Keras's (max %.3g)"
                                 % (name, float(np.max(np.abs(got - want)))))
            subprocess.run([nnctl, "export", h5, "--format", "onnx", "-o", onnx], check=True,
                           capture_output=True)
            del m
            for batch, k in ((1, 4), (32, 1)):
                t_n, rss_n = nnctl_per_image(nnctl, h5, tmp, batch, a.threads, k)
                t_o, rss_o = run_peer("ort", h5, onnx, batch, a.threads)
                t_k, rss_k = run_peer("keras", h5, onnx, batch, a.threads)
                print("| %s | %d | %.1f | %.1f | %.1f | %.0f / %.0f / %.0f |" % (
                    name, batch, 1 / t_n, 1 / t_o, 1 / t_k, rss_n, rss_o, rss_k), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
