#!/usr/bin/env bash
# The whole GPU check in one command, for a machine with an NVIDIA GPU (made for the lent H100 / H200
# machines: CUDA toolkit and PyTorch present, no Debian packages, no network), in order of priority:
#   1. configure a fresh CUDA build (sm_90 unless MN_CUDA_ARCH says otherwise; without libcurl,
#      MN_FETCH=OFF) and build it
#   2. run every test suite with MN_REQUIRE_GPU=1 (CUDA tests fail instead of skipping; NCCL's with
#      one rank among them when NCCL was found), at most 150 s
#   3. the acceptance runs of precision = "bf16" (issue #13), most important first: `mn bench train`
#      of WRN-28-10 in bf16 (channels-last, the default) against tools/bench_train_torch.py
#      --amp --channels-last and PyTorch's default (TF32 eager); then mn in tf32 and in bf16 NCHW
#      and PyTorch's other two modes; MobileNet v2 at 224 with batch 256 in bf16 and tf32; the
#      200-epoch projection of WRN-28-10 through the whole input path (`mn bench train --epoch`,
#      batches built on the GPU and by the CPU loader); MobileNet v2 at the recipe's 128 images
#      per GPU and its projected 8-GPU scaling (issue #15, tools/scaling_projection.py); last, the
#      default Fashion-MNIST run in bf16 and fp32 side by side (top-1 at 1.0-28). acceptance.md
#      tabulates speed, memory (reserved against peak allocated) and the pass/fail lines.
#   4. COMMAND, if given (below)
#   5. if time is left, the CUDA-vs-CPU model comparison with cuDNN's heuristics
#      (MN_CUDNN_BENCHMARK=0; ctest ran it with measured algorithms), every algorithm chosen
#      logged (MN_CUDNN_LOG=1), and the measured one again with the log when ctest failed
# Time: expected about 7 minutes on an H200 (build ~2 min, ctest ~2, the benchmarks ~2.5, the
# two Fashion-MNIST runs ~1). No step starts after GPU_CHECK_DEADLINE seconds of script time
# (default 450; it notes "skipped: past the deadline" instead), and each step's timeout is cut so
# that it ends at most GRACE (45) s after the deadline: the script is done within ~8.5 minutes
# even on a slow machine (COMMAND's own timeout aside), inside the device tool's 600 s.
# Logs go to ./gpu_check_out. When $OUT is set (the device tool's output folder, which returns at
# most 8 files), summary.txt, acceptance.md and the logs packed as gpu_check_logs.tar.gz are put
# there after every step, so that a run killed midway still returns everything measured so far.
# The summary is printed last.
#
# Before running it there, prepare the libraries the machine lacks on the development machine:
#   tools/device_deps.sh          # -> .devdeps/ (OpenBLAS, libjpeg-turbo, headers); carry it along
# cuDNN, cuBLAS and NCCL come from the CUDA toolkit or, failing that, from PyTorch's nvidia-* wheels.
# Usage: tools/gpu_check.sh [COMMAND...]   (from the repository root)
#   COMMAND, if given, runs after the acceptance runs in the same environment (libraries found, build in build-gpu),
#   before the deadline and for at most GPU_CHECK_EXTRA_TIMEOUT (120) s, its output in extra.log:
#   a one-off experiment costs no second machine start.
#   KEEP_BUILD=1 keeps build-gpu/ (an incremental build, for a second run on a warm machine).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
RESULTS=${OUT:-}
OUT=$PWD/gpu_check_out
rm -rf "$OUT" && mkdir -p "$OUT"
BUILD=build-gpu
ARCH=${MN_CUDA_ARCH:-90}
JOBS=$(nproc)
DEADLINE=${GPU_CHECK_DEADLINE:-450}
GRACE=45
SUMMARY="$OUT/summary.txt"
JSONL="$OUT/bench.jsonl"
: >"$SUMMARY"
: >"$JSONL"

# acceptance.md from bench.jsonl: one JSON line per run, labelled. The ratios issue #13 asks for:
# mn bf16 >= 1.3x PyTorch --amp --channels-last on WRN-28-10; reserved <= 1.25x peak allocated;
# Fashion-MNIST bf16 within 0.3 points of fp32 at 1.0-28. A missing run or figure reads n/a.
tabulate() {
  python3 - "$JSONL" >"$OUT/acceptance.md" <<'PY'
import json, sys
rows = []
for line in open(sys.argv[1]):
    try:
        rows.append(json.loads(line))
    except ValueError:
        pass
by = {r.get('run'): r for r in rows}
def num(r, *keys):
    for k in keys:
        v = (r or {}).get(k)
        if isinstance(v, (int, float)):
            return float(v)
    return None
def fmt(v, f='.1f'):
    return 'n/a' if v is None else format(v, f)
def ratio(a, b):
    return a / b if a is not None and b else None
print('| run | precision | layout | ms/step | images/s | peak allocated (MiB) | reserved (MiB) | reserved / peak |')
print('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |')
for r in rows:
    if 'images_per_s' not in r:
        continue
    reserved, peak = num(r, 'reserved_mib', 'peak_reserved_mib'), num(r, 'peak_mem_mib')
    prec = r.get('precision', 'bf16 autocast' if r.get('amp_bf16') else 'fp32 (TF32 convs)')
    layout = r.get('memory_format', 'nhwc' if r.get('channels_last') else 'nchw')
    print(f"| {r.get('run', '?')} | {prec} | {layout} | {fmt(num(r, 'ms_per_step'))} | {fmt(num(r, 'images_per_s'))} | "
          f"{fmt(peak, '.0f')} | {fmt(reserved, '.0f')} | {fmt(ratio(reserved, peak), '.2f')} |")
def check(name, value, ok, detail):
    print(f"- {'n/a' if value is None else 'PASS' if ok(value) else 'FAIL'}: {name} ({detail})")
print()
mn, torch = by.get('mn WRN-28-10 bf16'), by.get('torch WRN-28-10 --amp --channels-last')
speedup = ratio(num(mn, 'images_per_s'), num(torch, 'images_per_s'))
def times(v):
    return 'n/a' if v is None else f'{v:.2f}x'
check('mn bf16 >= 1.3x PyTorch --amp --channels-last on WRN-28-10', speedup, lambda v: v >= 1.3,
      times(speedup) + ('' if mn and torch else '; a run is missing, see its log'))
mem = ratio(num(mn, 'reserved_mib'), num(mn, 'peak_mem_mib'))
check('mn bf16 reserved <= 1.25x peak allocated', mem, lambda v: v <= 1.25, times(mem))
nchw = by.get('mn WRN-28-10 bf16 nchw')
print(f"- mn bf16 channels-last ({(mn or {}).get('memory_format', '?')}) / NCHW: "
      f"{times(ratio(num(mn, 'images_per_s'), num(nchw, 'images_per_s')))} images/s")
tf32 = by.get('torch WRN-28-10 default')
print(f"- mn bf16 / PyTorch default (TF32 eager): {times(ratio(num(mn, 'images_per_s'), num(tf32, 'images_per_s')))} images/s")
for input in ('on', 'off'):
    ep = by.get(f'mn WRN-28-10 epoch, input {input}')
    hours = num(ep, 'projected_hours')
    detail = (f"input {(ep or {}).get('input', 'n/a')}: {fmt(num(ep, 'ms_per_step'))} ms/step, "
              f"{fmt(num(ep, 'seconds_per_epoch'))} s/epoch x {(ep or {}).get('epochs', 'n/a')} = {fmt(hours, '.2f')} h")
    if input == 'on':
        check('CIFAR-100 WRN-28-10, 200 epochs projected under 1.5 h (batches built on the GPU)',
              hours, lambda v: v < 1.5, detail)
    else:
        print(f'- for comparison, the CPU loader: {detail}')
fb, ff = num(by.get('Fashion-MNIST bf16'), 'top1'), num(by.get('Fashion-MNIST fp32'), 'top1')
d = fb - ff if fb is not None and ff is not None else None
check('Fashion-MNIST bf16 within 0.3 points of fp32 at 1.0-28', d, lambda v: abs(v) <= 0.3,
      f"bf16 {fmt(fb, '.2f')}, fp32 {fmt(ff, '.2f')}, {fmt(d, '+.2f')}")
PY
  if [ -s "$OUT/scaling.md" ]; then echo; cat "$OUT/scaling.md"; fi >>"$OUT/acceptance.md"
}
# What is there so far into $OUT: after every step, so that a killed run returns it too.
save() {
  [ -n "$RESULTS" ] || return 0
  [ -s "$JSONL" ] && tabulate
  cp "$SUMMARY" "$RESULTS/"
  [ -f "$OUT/acceptance.md" ] && cp "$OUT/acceptance.md" "$RESULTS/"
  # Packed beside, then copied: a kill mid-tar leaves the previous tarball whole.
  local tmp="${TMPDIR:-/tmp}/gpu_check_logs.$$.tar.gz"
  tar czf "$tmp" -C "$OUT" . && cp "$tmp" "$RESULTS/gpu_check_logs.tar.gz"
  rm -f "$tmp"
}
note() {
  echo "== $*" | tee -a "$SUMMARY"
  save
}
trap 'note "stopped by a signal at $SECONDS s"; exit 143' TERM INT
# True, noting it, when the deadline has passed: the caller skips its step ($1: the step's name).
late() {
  [ "$SECONDS" -lt "$DEADLINE" ] && return 1
  note "$1: skipped: past the deadline ($SECONDS s of $DEADLINE)"
  return 0
}
# The timeout for a step capped at $1 seconds: it ends at most GRACE s after the deadline.
cap() {
  local left=$((DEADLINE + GRACE - SECONDS))
  echo $(($1 < left ? $1 : left > 5 ? left : 5))
}

# ---- environment -------------------------------------------------------------------------------
{
  timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  nvcc --version | tail -2
  cmake --version | head -1
  timeout 60 python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version())'
} >"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# The directory of an installed Python package (the nvidia-* wheels PyTorch depends on).
pydir() { python3 -c "import importlib; print(list(importlib.import_module('$1').__path__)[0])" 2>/dev/null; }
# True when the glob $1 matches a file; the first match.
have() { compgen -G "$1" >/dev/null; }
first() { compgen -G "$1" | head -1; }
# The wheel folder (lib/, include/) holding lib$1.so*: the CUDA 13 wheels put cuBLAS (and maybe
# cuDNN and NCCL) under nvidia/cu13, earlier ones each library under its own module ($2...).
wheeldir() {
  local name=$1 m d
  shift
  for m in nvidia.cu13 "$@"; do
    d=$(pydir "$m")
    if [ -n "$d" ] && have "$d/lib/lib$name.so*"; then
      echo "$d"
      return 0
    fi
  done
  return 1
}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
# No libcurl headers there (mn fetch cannot download anyway: no network).
CMAKE_ARGS=(-DCMAKE_BUILD_TYPE=Release -DMN_CUDA=ON -DMN_CUDA_ARCH="$ARCH" -DMN_FETCH=OFF)
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
if ! have "$CUDA_HOME/lib64/libcudnn.so*"; then
  if d=$(wheeldir cudnn nvidia.cudnn); then
    lib=$(first "$d/lib/libcudnn.so*")
    inc="$d/include"
    [ -f "$inc/cudnn.h" ] || inc="$PWD/.devdeps/include"
    CMAKE_ARGS+=(-DCUDNN_LIBRARY="$lib" -DCUDNN_INCLUDE_DIR="$inc")
    LIBDIRS+=("$d/lib")
    echo "cuDNN from the Python wheel: $lib (headers $inc)"
  fi
fi
if ! have "$CUDA_HOME/lib64/libcublas.so*"; then
  if d=$(wheeldir cublas nvidia.cublas); then
    CMAKE_ARGS+=(-DCUDA_cublas_LIBRARY="$(first "$d/lib/libcublas.so*")")
    have "$d/lib/libcublasLt.so*" && CMAKE_ARGS+=(-DCUDA_cublasLt_LIBRARY="$(first "$d/lib/libcublasLt.so*")")
    [ -d "$d/include" ] && export CPATH="$d/include${CPATH:+:$CPATH}"
    LIBDIRS+=("$d/lib")
    echo "cuBLAS from the Python wheel: $d"
  fi
fi
# NCCL (the GPU all-reduce of data-parallel training) from PyTorch's wheel when the toolkit lacks it.
if [ ! -e "$CUDA_HOME/include/nccl.h" ] && [ ! -e /usr/include/nccl.h ]; then
  if d=$(wheeldir nccl nvidia.nccl) && [ -f "$d/include/nccl.h" ]; then
    CMAKE_ARGS+=(-DNCCL_INCLUDE_DIR="$d/include" -DNCCL_LIBRARY="$(first "$d/lib/libnccl.so*")")
    echo "NCCL from the Python wheel: $d"
  fi
fi
# cuDNN loads its engine libraries (and NVRTC) at run time: every wheel's lib folder goes on the path.
nv=$(pydir nvidia)
if [ -n "$nv" ]; then
  for d in "$nv"/*/lib; do [ -d "$d" ] && LIBDIRS+=("$d"); done
fi
LD_LIBRARY_PATH="$(IFS=:; echo "${LIBDIRS[*]}")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
command -v ninja >/dev/null && CMAKE_ARGS+=(-G Ninja)

# ---- build -------------------------------------------------------------------------------------
t0=$SECONDS
[ "${KEEP_BUILD:-0}" = 1 ] || rm -rf "$BUILD"
if ! { cmake -S . -B "$BUILD" "${CMAKE_ARGS[@]}" && timeout 360 cmake --build "$BUILD" -j"$JOBS"; } >"$OUT/build.log" 2>&1; then
  note "BUILD FAILED after $((SECONDS - t0)) s (log: build.log); its first errors, then its last lines:"
  { grep -m 10 -E "error|Error" "$OUT/build.log"; echo ...; tail -40 "$OUT/build.log"; } | tee -a "$SUMMARY"
  save
  exit 1
fi
grep -iE "warning" "$OUT/build.log" | head -20
note "build: $((SECONDS - t0)) s, $(grep -ci warning "$OUT/build.log") warning lines; $(grep -m1 -o 'NCCL: .*' "$OUT/build.log")"

# ---- tests -------------------------------------------------------------------------------------
# tests/mutualnet/export_test.cpp compares with onnxruntime from $BUILD/onnxruntime-venv, which
# it creates with pip when that python cannot import onnxruntime: offline, point it at this
# machine's python3 when that has onnxruntime, and otherwise let pip fail at once.
if python3 -c 'import onnxruntime' >/dev/null 2>&1; then
  mkdir -p "$BUILD/onnxruntime-venv/bin"
  printf '#!/bin/sh\nexec "%s" "$@"\n' "$(command -v python3)" >"$BUILD/onnxruntime-venv/bin/python"
  chmod +x "$BUILD/onnxruntime-venv/bin/python"
else
  export PIP_NO_INDEX=1
fi
ctest_rc=0
if ! late "ctest"; then
  t0=$SECONDS
  (cd "$BUILD" && MN_REQUIRE_GPU=1 timeout "$(cap 150)" ctest --output-on-failure --timeout 120 -j4) >"$OUT/ctest.log" 2>&1
  ctest_rc=$?
  tail -25 "$OUT/ctest.log"
  case $ctest_rc in
    0) result=PASSED ;;
    124) result="STOPPED by its timeout" ;;
    *) result=FAILED ;;
  esac
  note "ctest (MN_REQUIRE_GPU=1): $result in $((SECONDS - t0)) s (log: ctest.log)"
fi

# ---- acceptance (issue #13): speed, memory and accuracy of precision = "bf16" -----------------
# label, log, timeout cap, command...: runs it unless past the deadline, keeps its last JSON line
# tagged with the label in bench.jsonl.
bench() {
  local label=$1 log=$2 limit=$3
  shift 3
  late "$label" && return
  local t=$SECONDS
  timeout "$(cap "$limit")" "$@" >"$OUT/$log" 2>&1
  local rc=$?
  tail -3 "$OUT/$log"
  grep '^{' "$OUT/$log" | tail -1 | python3 -c "import json, sys; [print(json.dumps(dict(json.loads(l), run='$label'))) for l in sys.stdin]" >>"$JSONL"
  note "$label: exit $rc in $((SECONDS - t)) s (log: $log)"
}
# mn's WRN-28-10 step; $1 precision, $2 memory_format (auto: nhwc on CUDA; nchw measures what
# channels-last buys).
mn_wrn() {
  bench "mn WRN-28-10 $1$([ "$2" = nchw ] && echo " nchw")" "bench_mn_wrn_$1_$2.log" 90 "$BUILD/mn" bench train \
    configs/cifar100_wrn.toml --device cuda --set precision="$1" --set memory_format="$2" --steps 10 --warmup 3
}
# PyTorch's (tools/bench_train_torch.py), $@ its flags.
torch_wrn() {
  local flags="$*"
  bench "torch WRN-28-10 ${flags:-default}" "bench_torch${flags// /}.log" 90 env PYTHONUNBUFFERED=1 \
    python3 tools/bench_train_torch.py --steps 10 --warmup 3 "$@"
}
if [ -f configs/cifar100_wrn.toml ]; then
  mn_wrn bf16 auto
  torch_wrn --amp --channels-last
  torch_wrn
  mn_wrn tf32 auto
  mn_wrn bf16 nchw
  torch_wrn --amp
  torch_wrn --channels-last
fi
if [ -f configs/imagenet_mobilenet_v2.toml ]; then
  for p in bf16 tf32; do
    bench "mn MobileNetV2-224 b256 $p" "bench_mn_mnv2_$p.log" 90 "$BUILD/mn" bench train \
      configs/imagenet_mobilenet_v2.toml --device cuda --set precision=$p --set train.batch_size=256 --steps 5 --warmup 2
  done
fi
# Issue #13's projection: WRN-28-10 training steps on synthetic CIFAR-100-shaped data (50000 images of
# 3x32x32) through the whole input path, batches built on the GPU and then by the CPU loader:
# seconds per epoch times the config's 200 epochs (target: under 1.5 hours).
if [ -f configs/cifar100_wrn.toml ]; then
  for input in on off; do
    bench "mn WRN-28-10 epoch, input $input" "bench_mn_epoch_$input.log" 120 "$BUILD/mn" bench train \
      configs/cifar100_wrn.toml --device cuda --epoch --steps 50 --warmup 5 --set data.device_input=$input
  done
fi
# Data parallel (issue #15): the recipe's share of one GPU (batch 1024 = 8 x 128) measured here,
# then projected to 2, 4 and 8 GPUs by tools/scaling_projection.py's ring all-reduce model.
if [ -f configs/imagenet_mobilenet_v2.toml ]; then
  bench "mn MobileNetV2-224 b128" "bench_mn_mnv2_b128.log" 90 "$BUILD/mn" bench train \
    configs/imagenet_mobilenet_v2.toml --device cuda --set train.batch_size=128 --steps 5 --warmup 2
  if grep -q '^{' "$OUT/bench_mn_mnv2_b128.log" 2>/dev/null; then
    python3 tools/scaling_projection.py "$OUT/bench_mn_mnv2_b128.log" >"$OUT/scaling.md" 2>&1
    note "scaling projection: exit $? (scaling.md, appended to acceptance.md)"
  fi
fi
# The default Fashion-MNIST run on the GPU in bf16 and in fp32, the two side by side (a small,
# launch-bound model: together they take little more than one), then top-1 at 1.0-28 of each.
fashion() {
  local p=$1 t0=$SECONDS
  rm -rf "runs/gpu_check_fm_$p"
  # More loader threads than the config's one (sized for a 2-core laptop); they change no value.
  { timeout "$(cap 150)" "$BUILD/mn" train configs/fashion_mnist.toml --set device=cuda --set precision="$p" \
      --set name="gpu_check_fm_$p" --set data.workers=6 &&
    timeout "$(cap 60)" "$BUILD/mn" sweep "runs/gpu_check_fm_$p" --widths 1.0 --resolutions 28; } >"$OUT/fashion_$p.log" 2>&1
  echo "$? $((SECONDS - t0))" >"$OUT/fashion_$p.rc"
}
if [ ! -d /usr/share/datasets/fashion-mnist ]; then
  note "Fashion-MNIST: skipped (no /usr/share/datasets/fashion-mnist; tools/device_deps.sh packs it)"
elif ! late "Fashion-MNIST"; then
  fashion bf16 &
  fashion fp32 &
  wait
  for p in bf16 fp32; do
    read -r rc secs <"$OUT/fashion_$p.rc"
    top1=$(awk -F, '$1 == "1.0" && $2 == 28 { print $5 }' "runs/gpu_check_fm_$p/sweep.csv" 2>/dev/null)
    [ -n "$top1" ] && echo "{\"run\": \"Fashion-MNIST $p\", \"top1\": $top1}" >>"$JSONL"
    note "Fashion-MNIST $p: exit $rc in $secs s, top-1 at 1.0-28: ${top1:-none} (log: fashion_$p.log)"
  done
fi
tabulate
tee -a "$SUMMARY" <"$OUT/acceptance.md"
save

# ---- the command given, if any ----------------------------------------------------------------
if [ $# -gt 0 ] && ! late "extra command ($*)"; then
  t0=$SECONDS
  timeout "${GPU_CHECK_EXTRA_TIMEOUT:-120}" "$@" >"$OUT/extra.log" 2>&1
  rc=$?
  tail -30 "$OUT/extra.log"
  note "extra command ($*): exit $rc in $((SECONDS - t0)) s (log: extra.log)"
fi

# ---- model comparison, cuDNN algorithms logged -------------------------------------------------
# ctest ran it with measured algorithms (cudnnFind); with cuDNN's heuristics here, and measured
# again when ctest failed, every algorithm chosen logged, so that an error confined to some layers
# can be tied to an algorithm.
modes=0
[ "$ctest_rc" -ne 0 ] && modes="1 0"
for mode in $modes; do
  late "models CUDA vs CPU, MN_CUDNN_BENCHMARK=$mode" && continue
  t0=$SECONDS
  MN_REQUIRE_GPU=1 MN_CUDNN_LOG=1 MN_CUDNN_BENCHMARK=$mode timeout "$(cap 120)" \
    "$BUILD/test_mutualnet" -tc='CUDA*' -s >"$OUT/models_cudnn_benchmark$mode.log" 2>&1
  rc=$?
  grep -E "worst|ERROR" "$OUT/models_cudnn_benchmark$mode.log" | head -8
  note "models CUDA vs CPU, MN_CUDNN_BENCHMARK=$mode: exit $rc in $((SECONDS - t0)) s (log: models_cudnn_benchmark$mode.log)"
done
note "total: $SECONDS s"
echo
cat "$SUMMARY"
