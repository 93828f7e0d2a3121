#!/usr/bin/env bash
# make test's GPU step, where CUDA's compiler is installed: builds the GPU
# engine (make GPU=1 into build-gpu/) and runs tests/gpu/test_gpu_engine,
# which compares every operation with the CPU engine and checks training
# when there is a CUDA device, and otherwise checks the no-device path and
# lists the tests it skipped (skip-gpu lines, tests/README.md). Exit status:
# the test program's.
#
#   tests/gpu/check.sh            (scripts/run-tests calls it)
set -u
cd "$(dirname "$0")/../.."
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
cuda=${CUDA_HOME:-$(cd "$(dirname "$nvcc")/.." && pwd)}
if [ ! -f "$cuda/include/cudnn.h" ]; then
    echo "skip-gpu gpu/engine: $cuda has nvcc but no cuDNN headers (include/cudnn.h); the GPU engine needs cuDNN 9"
    echo "gpu: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
# a make of its own: none of the outer make test's variables (SANITIZE=1,
# BUILD=...) may leak into the GPU build
exec env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u SANITIZE -u BUILD \
    make --no-print-directory -s -j"$(nproc)" CUDA_HOME="$cuda" test-gpu
