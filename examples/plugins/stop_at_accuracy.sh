#!/bin/sh
# An exec callback (no compiling): stops training once the training
# accuracy reaches a target, and keeps a one-line-per-epoch log.
#
#   train: { callbacks = ( { type = "exec"; on = "epoch_end"; stop_on_failure = true;
#                            command = "examples/plugins/stop_at_accuracy.sh 0.97"; } ); };
#
# nnctl passes the epoch's logs as NNCTL_* variables (NNCTL_LOSS,
# NNCTL_ACCURACY, NNCTL_VAL_LOSS, ...) and as one JSON line on standard
# input; a non-zero exit with stop_on_failure = true ends training after
# this epoch.
target=${1:-0.99}
log=${NNCTL_RUN_DIR:-.}/accuracy.log
echo "epoch $NNCTL_EPOCH/$NNCTL_EPOCHS loss $NNCTL_LOSS accuracy ${NNCTL_ACCURACY:-?}" >>"$log"
[ -n "${NNCTL_ACCURACY:-}" ] || exit 0
# exit 1 (stop) when accuracy >= target
awk -v a="$NNCTL_ACCURACY" -v t="$target" 'BEGIN { exit !(a + 0 < t + 0) }'
