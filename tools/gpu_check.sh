#!/usr/bin/env bash
# The whole GPU check in one command, for a machine with an NVIDIA GPU (made for the lent H100 / H200
# machines: CUDA toolkit and PyTorch present, no Debian packages, no network):
#   1. configure a fresh CUDA build (sm_90 unless MN_CUDA_ARCH says otherwise) and build it
#   2. run every test suite with MN_REQUIRE_GPU=1 (CUDA tests fail instead of skipping)
#   3. benchmark the MutualNet training step: `mn bench train configs/cifar100_wrn.toml --device
#      cuda` (when it exists) and the PyTorch eager baseline tools/bench_train_torch.py
#   4. the CUDA-vs-CPU model comparison again, logging every cuDNN algorithm chosen (MN_CUDNN_LOG=1),
#      once with measured algorithms (cudnnFind) and once with cuDNN's heuristics, so that an error
#      confined to some layers can be tied to an algorithm
#   5. with time to spare, compute-sanitizer memcheck over the CUDA tests (the cuDNN-heavy ones excluded)
# Logs go to ./gpu_check_out; when $OUT is set (the device tool's output folder, which returns at
# most 8 files) they are packed there as gpu_check_logs.tar.gz beside summary.txt. The summary is
# printed last.
#
# Before running it there, prepare the libraries the machine lacks on the development machine:
#   tools/device_deps.sh          # -> .devdeps/ (OpenBLAS, libjpeg-turbo, headers); carry it along
# cuDNN and cuBLAS come from the CUDA toolkit or, failing that, from PyTorch's nvidia-* wheels.
# Usage: tools/gpu_check.sh [COMMAND...]   (from the repository root; about 2-4 minutes on an H100)
#   COMMAND, if given, runs last in the same environment (libraries found, build in build-gpu),
#   its output in extra.log: a one-off experiment costs no second machine start.
set -uo pipefail
cd "$(dirname "$0")/.."
RESULTS=${OUT:-}
OUT=$PWD/gpu_check_out
rm -rf "$OUT" && mkdir -p "$OUT"
BUILD=build-gpu
ARCH=${MN_CUDA_ARCH:-90}
JOBS=$(nproc)
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
note() { echo "== $*" | tee -a "$SUMMARY"; }

# ---- environment -------------------------------------------------------------------------------
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# The directory of an installed Python package (the nvidia-* wheels PyTorch depends on).
pydir() { python3 -c "import importlib; print(list(importlib.import_module('$1').__path__)[0])" 2>/dev/null; }
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release -DMN_CUDA=ON -DMN_CUDA_ARCH="$ARCH")
LIBDIRS=("$CUDA_HOME/lib64")
if [ -d .devdeps ]; then
  if [ -f .devdeps/lib/libopenblas.so.0.xz ]; then
    python3 -c "import lzma, os, shutil; p = '.devdeps/lib/libopenblas.so.0'; shutil.copyfileobj(lzma.open(p + '.xz'), open(p, 'wb')); os.remove(p + '.xz')"
  fi
  # The data and training tests read Debian's dataset-fashion-mnist location.
  if [ -d .devdeps/fashion-mnist ] && [ ! -d /usr/share/datasets/fashion-mnist ]; then
    mkdir -p /usr/share/datasets && cp -r .devdeps/fashion-mnist /usr/share/datasets/
  fi
  CMAKE_ARGS+=(-DCMAKE_PREFIX_PATH="$PWD/.devdeps")
  LIBDIRS+=("$PWD/.devdeps/lib")
fi
if ! ls "$CUDA_HOME"/lib64/libcudnn.so* >/dev/null 2>&1; then
  d=$(pydir nvidia.cudnn)
  if [ -n "$d" ]; then
    lib=$(ls "$d"/lib/libcudnn.so* | head -1)
    inc="$d/include"
    [ -f "$inc/cudnn.h" ] || inc="$PWD/.devdeps/include"
    CMAKE_ARGS+=(-DCUDNN_LIBRARY="$lib" -DCUDNN_INCLUDE_DIR="$inc")
    LIBDIRS+=("$d/lib")
    echo "cuDNN from the Python wheel: $lib (headers $inc)"
  fi
fi
if ! ls "$CUDA_HOME"/lib64/libcublas.so* >/dev/null 2>&1; then
  d=$(pydir nvidia.cublas)
  if [ -n "$d" ]; then
    CMAKE_ARGS+=(-DCUDA_cublas_LIBRARY="$(ls "$d"/lib/libcublas.so* | head -1)"
                 -DCUDA_cublasLt_LIBRARY="$(ls "$d"/lib/libcublasLt.so* | head -1)")
    export CPATH="$d/include${CPATH:+:$CPATH}"
    LIBDIRS+=("$d/lib")
    echo "cuBLAS from the Python wheel: $d"
  fi
fi
# cuDNN loads its engine libraries (and NVRTC) at run time: every wheel's lib folder goes on the path.
nv=$(pydir nvidia)
[ -n "$nv" ] && for d in "$nv"/*/lib; do LIBDIRS+=("$d"); done
export LD_LIBRARY_PATH="$(IFS=:; echo "${LIBDIRS[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
command -v ninja >/dev/null && CMAKE_ARGS+=(-G Ninja)

# ---- build -------------------------------------------------------------------------------------
t0=$SECONDS
rm -rf "$BUILD"
if ! { cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}" && cmake --build "$BUILD" -j"$JOBS"; } >"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"
  note "BUILD FAILED after $((SECONDS - t0)) s (log: build.log)"
  exit 1
fi
grep -iE "warning" "$OUT/build.log" | head -20
note "build: $((SECONDS - t0)) s, $(grep -ci warning "$OUT/build.log") warning lines"

# ---- tests -------------------------------------------------------------------------------------
t0=$SECONDS
(cd "$BUILD" && MN_REQUIRE_GPU=1 ctest --output-on-failure --timeout 400 -j4) >"$OUT/ctest.log" 2>&1
rc=$?
tail -25 "$OUT/ctest.log"
note "ctest (MN_REQUIRE_GPU=1): $([ $rc -eq 0 ] && echo PASSED || echo FAILED) in $((SECONDS - t0)) s (log: ctest.log)"

# ---- benchmarks --------------------------------------------------------------------------------
t0=$SECONDS
if [ -f configs/cifar100_wrn.toml ]; then
  # The GPU machine has no CIFAR-100 and no network: time the step on random images in the same
  # binary format (1024 records) unless the real data is there.
  data_args=()
  if [ ! -f data/cifar-100-binary/train.bin ]; then
    synth=/tmp/mn_synthetic_cifar100
    mkdir -p "$synth"
    python3 -c "import os, random; random.seed(0); open('$synth/train.bin', 'wb').write(b''.join(bytes([random.randrange(20), random.randrange(100)]) + os.urandom(3072) for _ in range(1024)))"
    data_args=(--set "data.root=$synth")
    echo "mn bench train on synthetic CIFAR-100 records ($synth)"
  fi
  timeout 180 "$BUILD/mn" bench train configs/cifar100_wrn.toml --device cuda "${data_args[@]}" >"$OUT/bench_mn.log" 2>&1
  rc=$?
  cat "$OUT/bench_mn.log" | tail -15
  note "mn bench train: exit $rc in $((SECONDS - t0)) s (log: bench_mn.log)"
else
  note "mn bench train: skipped (configs/cifar100_wrn.toml missing)"
fi
t0=$SECONDS
PYTHONUNBUFFERED=1 timeout 240 python3 tools/bench_train_torch.py >"$OUT/bench_torch.log" 2>&1
rc=$?
tail -4 "$OUT/bench_torch.log"
note "PyTorch eager baseline: exit $rc in $((SECONDS - t0)) s (log: bench_torch.log)"
grep -h '^{' "$OUT/bench_mn.log" "$OUT/bench_torch.log" 2>/dev/null >>"$SUMMARY"

# ---- model comparison, cuDNN algorithms logged -------------------------------------------------
for mode in 1 0; do
  t0=$SECONDS
  MN_REQUIRE_GPU=1 MN_CUDNN_LOG=1 MN_CUDNN_BENCHMARK=$mode timeout 120 \
    "$BUILD/test_mutualnet" -tc='CUDA*' -s >"$OUT/models_cudnn_benchmark$mode.log" 2>&1
  rc=$?
  grep -E "worst|ERROR" "$OUT/models_cudnn_benchmark$mode.log" | head -8
  note "models CUDA vs CPU, MN_CUDNN_BENCHMARK=$mode: exit $rc in $((SECONDS - t0)) s (log: models_cudnn_benchmark$mode.log)"
done

# ---- memcheck (only while the whole run stays well inside 8 minutes) ---------------------------
if command -v compute-sanitizer >/dev/null && [ $SECONDS -lt 300 ]; then
  t0=$SECONDS
  MN_REQUIRE_GPU=1 timeout $((420 - SECONDS)) compute-sanitizer --tool memcheck --leak-check no --report-api-errors no \
    "$BUILD/test_cuda" -tce='*cuDNN*,*MutualNet shapes*,*autograd*' >"$OUT/memcheck.log" 2>&1
  rc=$?
  tail -6 "$OUT/memcheck.log"
  note "compute-sanitizer memcheck of test_cuda (no cuDNN cases): exit $rc in $((SECONDS - t0)) s (log: memcheck.log)"
else
  note "compute-sanitizer: skipped (not installed or not enough time left)"
fi
if [ $# -gt 0 ]; then
  t0=$SECONDS
  "$@" >"$OUT/extra.log" 2>&1
  rc=$?
  tail -30 "$OUT/extra.log"
  note "extra command ($*): exit $rc in $((SECONDS - t0)) s (log: extra.log)"
fi
note "total: $SECONDS s"
echo; cat "$SUMMARY"
if [ -n "$RESULTS" ]; then
  cp "$SUMMARY" "$RESULTS/"
  tar czf "$RESULTS/gpu_check_logs.tar.gz" -C "$OUT" .
fi
