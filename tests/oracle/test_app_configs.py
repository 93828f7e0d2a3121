#!/usr/bin/env python3
"""The network topologies in configs/applications against tf-keras, with
weights-only files in the layout of Keras's published ImageNet weights:

    TF_USE_LEGACY_KERAS=1 .venv-tf/bin/python tests/oracle/test_app_configs.py \
        --nnctl build/nnctl [--full] [-v]

Keras's published weights (`*_weights_tf_dim_ordering_tf_kernels[_notop].h5`)
are what tf-keras's save_weights writes: no network, one group per layer.
For each network below, tf-keras builds it with weights=None at its default
input size (the size of the config), BatchNormalization's moving statistics
drawn at random too, and writes the weights with save_weights. nnctl then
must, from configs/applications/NAME.cfg and that file only:
  * summary of the config: Keras's parameter count;
  * predict WEIGHTS --spec NAME.cfg on uint8 pixels (.npy): Keras's
    model.predict of preprocess_input(pixels) (the config's data.preprocess
    is the network's mode) to 1e-4 relative (the largest difference over the
    largest magnitude), and a mid-network layer's output (--layer) too;
  * make-application-configs --check NAME: the committed config is what
    tf-keras and `nnctl export --format cfg` make today.
Then model.base = { application = "mobilenet_v2"; file = NOTOP; } with a new
head: Keras's trainable and total parameter counts for base.trainable =
False plus the same head, and the base's features after training equal
Keras's notop model's; and the errors a user meets (an unknown network's
name, a weights-only file without application, another network's weights).
--full checks every config (slow: the large networks at 224-600 pixels, up
to ConvNeXtXLarge's 350M parameters and EfficientNetB7 at 600x600);
--only NAME,... the configs named.
Prints one line per check and "app-configs: N passed, M failed, 0 skipped".
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
import tf_keras as keras  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
A = keras.applications
# config name, builder, preprocess_input, a mid-network layer
CI = [
    ("mobilenet_v2", A.MobileNetV2, A.mobilenet_v2.preprocess_input, "block_6_expand_relu"),
    ("resnet50", A.ResNet50, A.resnet50.preprocess_input, "conv3_block4_out"),
    ("densenet121", A.DenseNet121, A.densenet.preprocess_input, "pool3_conv"),
    ("efficientnet_b0", A.EfficientNetB0, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    # a nested model (its stem) whose weights save_weights stores in the nested model's group
    ("convnext_tiny", A.ConvNeXtTiny, A.convnext.preprocess_input, "convnext_tiny_stage_1_block_0_identity"),
]
FULL = [
    ("vgg16", A.VGG16, A.vgg16.preprocess_input, "block3_pool"),
    ("vgg19", A.VGG19, A.vgg19.preprocess_input, "block3_pool"),
    ("resnet101", A.ResNet101, A.resnet.preprocess_input, "conv3_block4_out"),
    ("resnet152", A.ResNet152, A.resnet.preprocess_input, "conv3_block4_out"),
    ("resnet50_v2", A.ResNet50V2, A.resnet_v2.preprocess_input, "conv3_block4_out"),
    ("resnet101_v2", A.ResNet101V2, A.resnet_v2.preprocess_input, "conv3_block4_out"),
    ("resnet152_v2", A.ResNet152V2, A.resnet_v2.preprocess_input, "conv3_block4_out"),
    ("inception_v3", A.InceptionV3, A.inception_v3.preprocess_input, "mixed3"),
    ("inception_resnet_v2", A.InceptionResNetV2, A.inception_resnet_v2.preprocess_input, "mixed_6a"),
    ("xception", A.Xception, A.xception.preprocess_input, "add_3"),
    ("mobilenet", A.MobileNet, A.mobilenet.preprocess_input, "conv_pw_6_relu"),
    ("mobilenet_v3_small", A.MobileNetV3Small, A.mobilenet_v3.preprocess_input, "expanded_conv_4/Add"),
    ("mobilenet_v3_large", A.MobileNetV3Large, A.mobilenet_v3.preprocess_input, "expanded_conv_4/Add"),
    ("densenet169", A.DenseNet169, A.densenet.preprocess_input, "pool3_conv"),
    ("densenet201", A.DenseNet201, A.densenet.preprocess_input, "pool3_conv"),
    ("nasnet_mobile", A.NASNetMobile, A.nasnet.preprocess_input, "normal_concat_5"),
    ("nasnet_large", A.NASNetLarge, A.nasnet.preprocess_input, "normal_concat_5"),
    ("efficientnet_b1", A.EfficientNetB1, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_b2", A.EfficientNetB2, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_b3", A.EfficientNetB3, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_b4", A.EfficientNetB4, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_b5", A.EfficientNetB5, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_b6", A.EfficientNetB6, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_b7", A.EfficientNetB7, A.efficientnet.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_v2_b0", A.EfficientNetV2B0, A.efficientnet_v2.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_v2_b1", A.EfficientNetV2B1, A.efficientnet_v2.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_v2_b2", A.EfficientNetV2B2, A.efficientnet_v2.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_v2_b3", A.EfficientNetV2B3, A.efficientnet_v2.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_v2_s", A.EfficientNetV2S, A.efficientnet_v2.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_v2_m", A.EfficientNetV2M, A.efficientnet_v2.preprocess_input, "block4a_expand_activation"),
    ("efficientnet_v2_l", A.EfficientNetV2L, A.efficientnet_v2.preprocess_input, "block4a_expand_activation"),
    ("convnext_small", A.ConvNeXtSmall, A.convnext.preprocess_input, "convnext_small_stage_1_block_0_identity"),
    ("convnext_base", A.ConvNeXtBase, A.convnext.preprocess_input, "convnext_base_stage_1_block_0_identity"),
    ("convnext_large", A.ConvNeXtLarge, A.convnext.preprocess_input, "convnext_large_stage_1_block_0_identity"),
    ("convnext_xlarge", A.ConvNeXtXLarge, A.convnext.preprocess_input, "convnext_xlarge_stage_1_block_0_identity"),
]
SIZES = {"inception_v3": 299, "inception_resnet_v2": 299, "xception": 299, "nasnet_large": 331,
         "efficientnet_b1": 240, "efficientnet_b2": 260, "efficientnet_b3": 300, "efficientnet_b4": 380,
         "efficientnet_b5": 456, "efficientnet_b6": 528, "efficientnet_b7": 600,
         "efficientnet_v2_b1": 240, "efficientnet_v2_b2": 260, "efficientnet_v2_b3": 300,
         "efficientnet_v2_s": 384, "efficientnet_v2_m": 480, "efficientnet_v2_l": 480}

passed = failed = 0
VERBOSE = False


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   " + name + (" (%s)" % detail if detail and VERBOSE else ""))
    else:
        failed += 1
        print("FAIL " + name + (": " + detail if detail else ""))
    sys.stdout.flush()


def run(cmd, want=0):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != want:
        raise RuntimeError("%s: exit %d (want %d): %s" % (" ".join(cmd[:3]), p.returncode, want,
                                                          (p.stderr or p.stdout)[-500:]))
    return p


def rel(a, b):
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / max(np.max(np.abs(b)), 1e-30))


def random_bn(m, r):
    for layer in m.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            w = layer.get_weights()
            shapes = [v.shape for v in w]
            new, k = [], 0
            if layer.scale:
                new.append(r.uniform(0.5, 1.5, shapes[k])); k += 1
            if layer.center:
                new.append(r.normal(0, 0.1, shapes[k])); k += 1
            new += [r.normal(0, 0.1, shapes[k]), r.uniform(0.5, 1.5, shapes[k + 1])]
            layer.set_weights(new)


def param_count(nnctl, args):
    out = run([nnctl, "summary"] + args).stdout
    got = {}
    for line in out.splitlines():
        for key in ("Total", "Trainable", "Non-trainable"):
            if line.startswith(key + " params:"):
                got[key] = int(line.split(":")[1].split("(")[0].replace(",", ""))
    return got


def check_network(nnctl, work, name, build, prep, mid, r):
    cfg = os.path.join(ROOT, "configs", "applications", name + ".cfg")
    size = SIZES.get(name, 224)
    keras.backend.clear_session()
    keras.utils.set_random_seed(7)
    m = build(weights=None, input_shape=(size, size, 3))
    random_bn(m, r)
    wfile = os.path.join(work, name + "_weights.h5")
    m.save_weights(wfile)  # the published layout: weights only
    pix = r.integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    np.save(os.path.join(work, "pix.npy"), pix)
    x = prep(pix.astype(np.float32).copy())
    want = m.predict(x, verbose=0)
    names = [layer.name for layer in m.layers]
    if mid not in names:  # a table error, not nnctl's: say so, check the middle layer
        report(False, "%s: the test's layer %s is in the network" % (name, mid), "no such layer")
        mid = names[len(names) // 2]
    feat = keras.Model(m.input, m.get_layer(mid).output).predict(x, verbose=0)
    try:
        got = param_count(nnctl, [cfg])
        report(got.get("Total") == m.count_params(),
               "%s: summary of configs/applications/%s.cfg counts Keras's %d parameters"
               % (name, name, m.count_params()), str(got))
        run([nnctl, "predict", wfile, "--spec", cfg, os.path.join(work, "pix.npy"),
             "-o", os.path.join(work, "p.npy")])
        p = np.load(os.path.join(work, "p.npy"))
        e = rel(p, want)
        if np.max(want) > 0.999 and e >= 1e-4:
            # random weights can saturate the softmax (a class at 1.0): then
            # rounding picks the class, so the classifier's input is compared
            top_in = m.layers[-2].name
            run([nnctl, "predict", wfile, "--spec", cfg, os.path.join(work, "pix.npy"),
                 "--layer", top_in, "-o", os.path.join(work, "p.npy")])
            p = np.load(os.path.join(work, "p.npy"))
            top = keras.Model(m.input, m.layers[-2].output)
            want = top.predict(x, verbose=0)
            e = rel(p, want)
            # a network whose activations explode under random weights
            # (EfficientNetV2S at 384: 1e7 by the top) amplifies every
            # float32 rounding, so no float32 order of operations can be
            # nearer Keras than the rounding moves it. Two measures of that,
            # either of which nnctl must meet (x3): how far Keras moves when
            # the input moves by 1e-7 (EfficientNetV2S: 0.6), and how far
            # Keras's float32 is from the same network in float64 (where the
            # input nudge underrates the network, EfficientNetB6: 0.004 by
            # the nudge, 0.064 from float64). Either way the mid-network
            # layer below is held to 1e-4.
            nudge = rel(top.predict(x * (1 + 1e-7 * r.standard_normal(x.shape))
                                    .astype(np.float32), verbose=0), want)
            W = m.get_weights()
            keras.backend.clear_session()
            keras.backend.set_floatx("float64")
            try:
                m64 = build(weights=None, input_shape=(size, size, 3))
                m64.set_weights([w.astype(np.float64) for w in W])
                ref = keras.Model(m64.input, m64.layers[-2].output).predict(
                    x.astype(np.float64), verbose=0)
            finally:
                keras.backend.set_floatx("float32")
            del m64
            e64, own = rel(p, ref), rel(want, ref)
            report(p.shape == want.shape and (e < max(1e-4, 3 * nudge) or e64 < max(1e-4, 3 * own)),
                   "%s: Keras's softmax is saturated, so the classifier's input %s: as near "
                   "Keras's as Keras's own on an input moved by 1e-7, or as near the float64 "
                   "network's as Keras's float32 (x3)" % (name, top_in),
                   "rel %.2g from Keras, Keras's own on the moved input %.2g; from float64 %.2g, "
                   "Keras's float32 %.2g" % (e, nudge, e64, own))
        else:
            report(p.shape == want.shape and e < 1e-4,
                   "%s: predict of Keras's weights-only file with the config's topology and "
                   "preprocess equals Keras's on preprocess_input(pixels)" % name, "rel %.2g" % e)
        run([nnctl, "predict", wfile, "--spec", cfg, os.path.join(work, "pix.npy"),
             "--layer", mid, "-o", os.path.join(work, "f.npy")])
        f = np.load(os.path.join(work, "f.npy"))
        e = rel(f, feat)
        report(f.shape == feat.shape and e < 1e-4, "%s: --layer %s equals Keras's" % (name, mid),
               "rel %.2g" % e)
    except RuntimeError as err:
        report(False, "%s: the config with Keras's weights-only file" % name, str(err))
    os.remove(wfile)


def check_generated(nnctl, names):
    env = dict(os.environ, NNCTL=os.path.abspath(nnctl))
    p = subprocess.run([os.path.join(ROOT, "scripts", "make-application-configs"), "--check"] + names,
                       capture_output=True, text=True, env=env)
    report(p.returncode == 0, "make-application-configs --check %s: the committed configs are what "
           "tf-keras and nnctl export --format cfg make" % " ".join(names), p.stdout[-600:] + p.stderr[-600:])


def check_base(nnctl, work, r):
    keras.backend.clear_session()
    keras.utils.set_random_seed(11)
    base = A.MobileNetV2(weights=None, include_top=False, input_shape=(224, 224, 3))
    random_bn(base, r)
    notop = os.path.join(work, "notop.h5")
    base.save_weights(notop)
    x = r.uniform(-1, 1, (4, 224, 224, 3)).astype(np.float32)
    np.save(os.path.join(work, "bx.npy"), x)
    np.save(os.path.join(work, "by.npy"), np.arange(4) % 3)
    feats = base.predict(x, verbose=0)
    base.trainable = False
    head = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(base.output))
    whole = keras.Model(base.input, head)
    trainable = int(sum(np.prod(v.shape) for v in whole.trainable_weights))
    spec = os.path.join(work, "base.cfg")
    with open(spec, "w") as f:
        f.write('model: { name = "t"; base = { application = "mobilenet_v2"; file = "notop.h5"; '
                'output = "out_relu"; trainable = false; };\n'
                '  layers = ( { type = "global_average_pooling2d"; }, '
                '{ type = "dense"; units = 3; activation = "softmax"; } ); };\n'
                'data: { train = { format = "npy"; x = "bx.npy"; y = "by.npy"; }; };\n'
                'train: { loss = "sparse_categorical_crossentropy"; optimizer = { type = "adam"; '
                'lr = 0.01; }; epochs = 1; batch_size = 2; seed = 1; };\n')
    try:
        got = param_count(nnctl, [spec])
        report(got.get("Total") == whole.count_params() and got.get("Trainable") == trainable,
               "model.base application = \"mobilenet_v2\", trainable = false, a new head: Keras's "
               "total and trainable parameter counts (%d, %d)" % (whole.count_params(), trainable), str(got))
        run([nnctl, "train", spec, "-o", os.path.join(work, "run"), "-q"])
        run([nnctl, "predict", os.path.join(work, "run", "model.h5"), os.path.join(work, "bx.npy"),
             "--layer", "out_relu", "-o", os.path.join(work, "bf.npy")])
        f = np.load(os.path.join(work, "bf.npy"))
        e = rel(f, feats)
        report(f.shape == feats.shape and e < 1e-4, "model.base from the config and a notop "
               "weights-only file: after training, the frozen base's out_relu equals Keras's", "rel %.2g" % e)
    except RuntimeError as err:
        report(False, "model.base application with a notop weights-only file", str(err))
    # the errors a user meets
    cases = [
        ('application = "mobilenet_v9"; file = "notop.h5";', "did you mean 'mobilenet_v2'"),
        ('file = "notop.h5";', "base.application"),
        ('application = "mobilenet"; file = "notop.h5"; output = "conv_pw_13_relu";', "no weights"),
    ]
    for keys, want in cases:
        bad = os.path.join(work, "bad.cfg")
        with open(spec) as f:
            text = f.read()
        with open(bad, "w") as f:
            f.write(text.replace('application = "mobilenet_v2"; file = "notop.h5"; output = "out_relu";',
                                 keys if "output" in keys else keys + ' output = "out_relu";'))
        p = subprocess.run([nnctl, "train", bad, "-o", os.path.join(work, "bad"), "-q"],
                           capture_output=True, text=True)
        where = "notop.h5" if want == "no weights" else "bad.cfg"  # the file, or the spec's line
        report(p.returncode == 2 and want in p.stderr and where in p.stderr,
               "model.base { %s }: exit 2 naming %s, '%s'" % (keys, where, want), p.stderr[-400:])


def check_variable_size(nnctl, work, r):
    """A network built for any image size (input_shape (None, None, 3), as
    Keras Applications allow without the top) predicts at each .npy file's
    size: MobileNetV3Small's zero padding, depthwise convolutions and
    squeeze-excite broadcasting keep the None sides until the model is built
    at a size."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(5)
    m = A.MobileNetV3Small(weights=None, input_shape=(None, None, 3), alpha=0.75,
                           minimalistic=False, include_top=False, pooling="avg")
    random_bn(m, r)
    f = os.path.join(work, "v3none.h5")
    m.save(f, save_format="h5")
    files, want = [], []
    for side in (64, 96):
        x = r.uniform(0, 255, (2, side, side, 3)).astype(np.float32)
        files.append(os.path.join(work, "img%d.npy" % side))
        np.save(files[-1], x)
        want.append(m.predict(x, verbose=0))
    try:
        run([nnctl, "predict", f] + files + ["-o", os.path.join(work, "v.npy")])
        got, w = np.load(os.path.join(work, "v.npy")), np.concatenate(want)
        e = rel(got, w)
        report(got.shape == w.shape and e < 1e-4, "MobileNetV3Small with input (None, None, 3): "
               "predict at 64x64 and 96x96 in one command equals Keras's", "rel %.2g" % e)
    except RuntimeError as err:
        report(False, "MobileNetV3Small with input (None, None, 3)", str(err))


def main():
    global VERBOSE
    ap = argparse.ArgumentParser()
    ap.add_argument("--nnctl", required=True)
    ap.add_argument("--full", action="store_true")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--only", help="NAME,...: only these configs (and no model.base checks)")
    a = ap.parse_args()
    VERBOSE = a.v
    nnctl = os.path.abspath(a.nnctl)
    r = np.random.default_rng(2026)
    nets = CI + (FULL if a.full or a.only else [])
    if a.only:
        nets = [n for n in nets if n[0] in a.only.split(",")]
    with tempfile.TemporaryDirectory() as work:
        for name, build, prep, mid in nets:
            check_network(nnctl, work, name, build, prep, mid, r)
        check_generated(nnctl, [n[0] for n in nets])
        if not a.only:
            check_base(nnctl, work, r)
            check_variable_size(nnctl, work, r)
    print("app-configs: %d passed, %d failed, 0 skipped" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
