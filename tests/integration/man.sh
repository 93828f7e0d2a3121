#!/usr/bin/env bash
# The man page against the registry rows: its generated tables are what
# the rows say now (scripts/man-tables --check), every registered name is
# in the page, every command has its section, and every key a layer's
# parser reads is in that layer's docs (mantables --check-keys).
#   BUILD=build tests/integration/man.sh
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
source "$here/lib.sh"
BUILD=${BUILD:-build}
tool="$root/$BUILD/tools/mantables"
page="$root/docs/nnctl.1"
if [ ! -x "$tool" ]; then
    echo "man: $tool is not built (make unit-tests)" >&2
    exit 2
fi
if out=$("$root/scripts/man-tables" --check "$tool" "$page" 2>&1); then ok "docs/nnctl.1's generated tables match the registry rows"; else
    bad "docs/nnctl.1's generated tables match the registry rows" "$out"; fi
if out=$("$tool" --check-keys 2>&1); then ok "every key a layer's parser reads is in its row's docs"; else
    bad "every key a layer's parser reads is in its row's docs" "$out"; fi
missing=""
while read -r table name; do
    esc=${name//-/\\-}
    if [ "$table" = commands ]; then
        grep -qF ".SS \"nnctl $name" "$page" || missing="$missing command:$name(no section)"
    fi
    grep -qF -- "$esc" "$page" || missing="$missing $table:$name"
done < <("$tool" --names)
[ -z "$missing" ] && ok "every registered name (layers, activations, initializers, regularizers, losses, metrics, optimizers, callbacks, commands) is in the man page" ||
    bad "every registered name is in the man page" "missing:$missing"
if command -v man >/dev/null && man --warnings -l "$page" 2>&1 >/dev/null | grep -q .; then
    bad "man renders the page without warnings" "$(man --warnings -l "$page" 2>&1 >/dev/null | head -3)"
else
    ok "man renders the page without warnings"
fi
nn_summary man
