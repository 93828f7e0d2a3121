#!/usr/bin/env bash
# Does mixed_bfloat16 train as well as float32? Trains each config with
# each seed in each precision, one run at a time (nice -n 10), with the test
# set as validation data (as Keras's examples do), then prints per run the
# final test accuracy and the first epoch whose validation accuracy reached
# the target, and per epoch whether each mixed run's training loss lies
# within the float32 runs' spread over the seeds.
#
#   scripts/experiments/mixed-accuracy.sh [-o OUT] [CONFIG:EPOCHS:TARGET ...]
#   (default: mnist_cnn:12:0.992 cifar10_cnn:26:0.75)
#
# Environment: NNCTL (default build/nnctl), NNCTL_DATA, SEEDS (default
# "1 2 3"), PRECISIONS (default "mixed_bfloat16 float32"), THREADS (default
# 2). A run whose model.h5 exists is kept; one with only last.h5 resumes
# (exactly), so the script can be stopped and started again.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
NNCTL=${NNCTL:-$root/build/nnctl}
out=runs/mixed-accuracy
if [ "${1:-}" = -o ]; then out=$2; shift 2; fi
runs=("$@")
[ ${#runs[@]} -gt 0 ] || runs=(mnist_cnn:12:0.992 cifar10_cnn:26:0.75)
mkdir -p "$out"

for r in "${runs[@]}"; do
  IFS=: read -r name epochs target <<<"$r"
  # the spec with the test set as validation data
  python3 - "$root/configs/$name.cfg" "$out/$name.cfg" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
m = re.search(r"^  test *= *(\{.*?\});", text, re.M | re.S)
if not m:
    sys.exit(f"cannot find data.test in {sys.argv[1]}")
open(sys.argv[2], "w").write(text[:m.end()] + f"\n  validation = {m.group(1)};" + text[m.end():])
PY
  for seed in ${SEEDS:-1 2 3}; do
    for prec in ${PRECISIONS:-mixed_bfloat16 float32}; do
      dir="$out/$name-$prec-s$seed"
      [ -f "$dir/model.h5" ] && continue
      resume=()
      [ -f "$dir/last.h5" ] && resume=(--resume)
      echo "== $name $prec seed $seed ($epochs epochs) -> $dir"
      nice -n 10 "$NNCTL" train "$out/$name.cfg" -o "$dir" -q --threads "${THREADS:-2}" \
        --precision "$prec" --set "train.seed=$seed" --set "train.epochs=$epochs" "${resume[@]}"
    done
  done
done

python3 - "$out" "${runs[@]}" <<'PY'
import csv, json, os, sys
out = sys.argv[1]
for r in sys.argv[2:]:
    name, epochs, target = r.split(":")
    target = float(target)
    runs = {}
    for d in sorted(os.listdir(out)):
        if not d.startswith(name + "-") or not os.path.isfile(os.path.join(out, d, "history.csv")):
            continue
        prec, seed = d[len(name) + 1:].rsplit("-s", 1)
        rows = list(csv.DictReader(open(os.path.join(out, d, "history.csv"))))
        ev = os.path.join(out, d, "eval.json")
        test = json.load(open(ev)) if os.path.isfile(ev) else {}
        runs[(prec, seed)] = (rows, test)
    print(f"\n{name}: {epochs} epochs, target {target:.2%}")
    print("| precision | seed | epochs run | test accuracy | first epoch >= target | s/epoch |")
    print("|---|---|---|---|---|---|")
    for (prec, seed), (rows, test) in sorted(runs.items()):
        acc = test.get("accuracy")
        first = next((i + 1 for i, w in enumerate(rows)
                      if float(w.get("val_accuracy", 0)) >= target), None)
        secs = sum(float(w["time"]) for w in rows) / max(len(rows), 1)
        print(f"| {prec} | {seed} | {len(rows)} | "
              f"{'%.2f%%' % (100 * acc) if acc is not None else '(running)'} | "
              f"{first or '-'} | {secs:.0f} |")
    fp = [rows for (p, _), (rows, _) in runs.items() if p == "float32"]
    if len(fp) < 2:
        continue
    for (prec, seed), (rows, _) in sorted(runs.items()):
        if prec == "float32":
            continue
        inside, checked = 0, 0
        worst = ""
        for e, w in enumerate(rows):
            ref = [float(f[e]["loss"]) for f in fp if len(f) > e]
            if len(ref) < 2:
                continue
            lo, hi, v = min(ref), max(ref), float(w["loss"])
            checked += 1
            if lo <= v <= hi:
                inside += 1
            else:
                worst += f" e{e + 1}: {v:.4f} vs [{lo:.4f}, {hi:.4f}];"
        print(f"{prec} seed {seed}: training loss inside the float32 seeds' range in "
              f"{inside}/{checked} epochs{' (outside:' + worst + ')' if worst else ''}")
PY
