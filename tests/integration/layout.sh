#!/usr/bin/env bash
# The source tree's rules (docs/ARCHITECTURE.md): includes go downward
# only (layers never include io/, io/ never includes train/, ...), and a
# layer type is named only in its own row (no code outside src/layers/
# tests a layer's type name or refers to a layer's row). Files over 600
# lines are listed (a note, not a failure: they split along their seams).
#   tests/integration/layout.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
cd "$root/src" || exit 2

# folder: the folders of src/ it must not include (its own is always fine)
rules="
util: cli session train io plugin layers formats model objectives data dist sweep experiments spec engine
engine: cli session train io plugin layers formats model objectives data dist sweep experiments spec
spec: cli session train io plugin layers formats model objectives data dist sweep experiments engine
experiments: cli session train io plugin layers formats model objectives data dist sweep
data: cli session train io plugin layers formats model objectives dist sweep experiments
formats: cli session train io plugin layers objectives data dist sweep experiments
model: cli session train io plugin formats objectives data dist sweep experiments
layers: cli session train io plugin objectives data dist sweep experiments
objectives: cli session train io plugin layers formats data dist sweep experiments
io: cli session train plugin data dist sweep experiments
dist: cli session train io plugin sweep experiments
train: cli session plugin sweep experiments
plugin: cli session io sweep experiments
sweep: cli session train io plugin layers formats model objectives data
session: cli sweep experiments
"
while IFS=: read -r dir banned; do
    [ -n "$dir" ] || continue
    [ -d "$dir" ] || { skip "$dir/'s includes" "no src/$dir"; continue; }
    found=""
    for b in $banned; do
        hits=$(grep -rlE "^#include \"$b/" "$dir" 2>/dev/null | tr '\n' ' ')
        [ -n "$hits" ] && found="$found $b/ (in $hits)"
    done
    if [ -z "$found" ]; then ok "src/$dir/ includes none of:$(printf ' %s/' $banned)"; else
        bad "src/$dir/ includes none of:$(printf ' %s/' $banned)" "it includes$found"; fi
done <<<"$rules"

hits=$(grep -rnE 'str(n?case)?cmp\([^;]*type->name, *"|str(n?case)?cmp\("[a-z_0-9]+", *[^;]*type->name' \
    --include='*.c' --include='*.h' . |
    grep -v '^\./layers/' || true)
if [ -z "$hits" ]; then ok "no code outside src/layers/ tests a layer's type name"; else
    bad "no code outside src/layers/ tests a layer's type name" "$hits"; fi
hits=$(grep -rnE '&nn_layer_[a-z_0-9]+' --include='*.c' --include='*.h' . |
    grep -v '^\./layers/' | grep -v '&nn_layer_input\b' || true)
if [ -z "$hits" ]; then ok "no code outside src/layers/ refers to a layer's row (the input row aside)"; else
    bad "no code outside src/layers/ refers to a layer's row (the input row aside)" "$hits"; fi

long=$(find . \( -name '*.c' -o -name '*.h' -o -name '*.cu' \) -exec wc -l {} + |
    awk '$2 != "total" && $1 > 600 { printf " %s (%d)", substr($2, 3), $1 }')
[ -n "$long" ] && echo "note: over 600 lines, to split along their seams:$long"
nn_summary layout
