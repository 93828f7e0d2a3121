#!/usr/bin/env python3
"""Checks that an nnctl model file has the layout and attribute types that
Keras 2's hdf5_format.py / Keras 3's legacy_h5_format.py write and read.

    check_h5_layout.py FILE

Opens FILE with h5py, walks it the way keras.models.load_model does
(layer_names, possibly split into layer_names0, 1, ...; per-layer
weight_names; datasets at those names under the layer group) and asserts the
types: root model_config / training_config / keras_version / backend are
str; name lists are numpy arrays of fixed-length bytes ('S'); weights are
float32. Also checks nnctl's /nnctl group when present. Prints each check
and "h5-layout: N passed, M failed, 0 skipped"; exits 1 on the first
mismatch, 2 on bad usage.
"""
import json
import sys

import h5py
import numpy as np

HDF5_OBJECT_HEADER_LIMIT = 64512  # Keras's split threshold

n_checks = 0


def check(cond, what):
    global n_checks
    if not cond:
        print(f"FAIL: {what}")
        print(f"h5-layout: {n_checks} passed, 1 failed, 0 skipped")
        sys.exit(1)
    n_checks += 1
    print(f"ok   {what}")


def check_str_attr(obj, name, required=True):
    if name not in obj.attrs:
        check(not required, f"{obj.name} has attribute {name!r}")
        return None
    v = obj.attrs[name]
    check(isinstance(v, str), f"{obj.name} attr {name!r} is str (got {type(v).__name__})")
    tid = obj.attrs.get_id(name)
    check(tid.get_type().is_variable_str() and tid.shape == (),
          f"{obj.name} attr {name!r} is a scalar variable-length string")
    return v


def load_name_list(group, name):
    """Keras's load_attributes_from_hdf5_group, with type checks."""
    if name in group.attrs:
        parts = [name]
    else:
        parts = []
        i = 0
        while f"{name}{i}" in group.attrs:
            parts.append(f"{name}{i}")
            i += 1
    check(parts, f"{group.name} has {name} (or {name}0, {name}1, ...)")
    out = []
    for p in parts:
        v = group.attrs[p]
        check(isinstance(v, np.ndarray) and v.ndim == 1 and v.dtype.kind == "S",
              f"{group.name} attr {p!r} is a 1-D numpy array of fixed-length bytes "
              f"(got {type(v).__name__} {getattr(v, 'dtype', None)} shape {getattr(v, 'shape', None)})")
        check(v.nbytes <= HDF5_OBJECT_HEADER_LIMIT,
              f"{group.name} attr {p!r} is {v.nbytes} <= {HDF5_OBJECT_HEADER_LIMIT} bytes")
        out.extend(n.decode("utf8") for n in v)
    if len(parts) > 1:
        print(f"note: {group.name} {name} split into {len(parts)} attributes")
    return out


def check_dataset(group, name, where):
    check(name in group, f"{where}: dataset {name!r} exists at {group.name}/{name}")
    ds = group[name]
    check(isinstance(ds, h5py.Dataset), f"{where}: {group.name}/{name} is a dataset")
    check(ds.dtype == np.dtype("<f4"), f"{where}: {name!r} is float32 (got {ds.dtype})")
    arr = np.asarray(ds)
    check(arr.dtype == np.float32, f"{where}: {name!r} reads as float32 {arr.shape}")
    return arr


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[0])
        print("usage: check_h5_layout.py FILE")
        return 2
    path = sys.argv[1]
    with h5py.File(path, "r") as f:
        cfg = check_str_attr(f, "model_config")
        cfg_json = json.loads(cfg)
        check("class_name" in cfg_json and "config" in cfg_json,
              "model_config is JSON with class_name and config")
        tc = check_str_attr(f, "training_config", required=False)
        if tc is not None:
            json.loads(tc)
            check(True, "training_config is JSON")
        check_str_attr(f, "keras_version")
        check_str_attr(f, "backend")

        check("model_weights" in f, "group /model_weights exists")
        mw = f["model_weights"]
        check_str_attr(mw, "keras_version")
        check_str_attr(mw, "backend")
        layer_names = load_name_list(mw, "layer_names")
        check(len(set(layer_names)) == len(layer_names), "layer names are unique")

        if cfg_json["class_name"] == "Sequential":
            cfg_layers = [l["config"]["name"] for l in cfg_json["config"]["layers"]
                          if l["class_name"] != "InputLayer"]
            check(cfg_layers == layer_names,
                  f"layer_names match the Sequential config's layers ({len(layer_names)})")

        n_weights = 0
        for lname in layer_names:
            check(lname in mw and isinstance(mw[lname], h5py.Group),
                  f"layer {lname!r} has a group")
            g = mw[lname]
            wnames = load_name_list(g, "weight_names")
            for wn in wnames:
                check_dataset(g, wn, f"layer {lname!r}")
                n_weights += 1
        print(f"note: {len(layer_names)} layers, {n_weights} weight arrays")

        if "nnctl" in f:
            g = f["nnctl"]
            check_str_attr(g, "spec", required=False)
            check_str_attr(g, "state", required=False)
            fv = g.attrs.get("format_version")
            check(fv is not None and np.issubdtype(np.asarray(fv).dtype, np.integer) and fv == 1,
                  f"/nnctl format_version is integer 1 (got {fv!r})")
            og = g["optimizer"]
            names = load_name_list(og, "names")
            for n in names:
                check_dataset(og, n, "optimizer")
            print(f"note: optimizer arrays in order: {names}")
    print(f"h5-layout: {n_checks} passed, 0 failed, 0 skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
