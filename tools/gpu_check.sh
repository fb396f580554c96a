#!/usr/bin/env bash
# The whole GPU check in one command, for a machine with an NVIDIA GPU (made for the lent H100 / H200
# machines: CUDA toolkit and PyTorch present, no Debian packages, no network):
#   1. configure a fresh CUDA build (sm_90 unless MN_CUDA_ARCH says otherwise) and build it
#   2. run every test suite with MN_REQUIRE_GPU=1 (CUDA tests fail instead of skipping; NCCL's with
#      one rank among them when NCCL was found)
#   3. the acceptance runs of precision = "bf16" (issue #13): `mn bench train` of WRN-28-10 in bf16
#      (channels-last, the default, and NCHW) and tf32 against tools/bench_train_torch.py with and
#      without --amp / --channels-last, the 200-epoch projection of WRN-28-10 through the whole
#      input path (`mn bench train --epoch`), MobileNet v2 at 224 with batch 256, and the default
#      Fashion-MNIST run on the GPU in bf16 and fp32 (top-1 at 1.0-28); acceptance.md tabulates
#      speed, memory and the pass/fail lines, then the projected 8-GPU scaling of MobileNet v2
#      from its step at the recipe's 128 images per GPU (issue #15, tools/scaling_projection.py)
#   4. the CUDA-vs-CPU model comparison again (NCHW and channels-last), logging every cuDNN algorithm chosen (MN_CUDNN_LOG=1),
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
# Usage: tools/gpu_check.sh [COMMAND...]   (from the repository root; about 5-8 minutes on an H200)
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
# NCCL (the GPU all-reduce of data-parallel training) from PyTorch's wheel when the toolkit lacks it.
if ! ls "$CUDA_HOME"/include/nccl.h /usr/include/nccl.h >/dev/null 2>&1; then
  d=$(pydir nvidia.nccl)
  if [ -n "$d" ] && [ -f "$d/include/nccl.h" ]; then
    CMAKE_ARGS+=(-DNCCL_INCLUDE_DIR="$d/include" -DNCCL_LIBRARY="$(ls "$d"/lib/libnccl.so* | head -1)")
    echo "NCCL from the Python wheel: $d"
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
note "build: $((SECONDS - t0)) s, $(grep -ci warning "$OUT/build.log") warning lines; $(grep -m1 -o 'NCCL: .*' "$OUT/build.log")"

# ---- tests -------------------------------------------------------------------------------------
t0=$SECONDS
(cd "$BUILD" && MN_REQUIRE_GPU=1 ctest --output-on-failure --timeout 400 -j4) >"$OUT/ctest.log" 2>&1
rc=$?
tail -25 "$OUT/ctest.log"
note "ctest (MN_REQUIRE_GPU=1): $([ $rc -eq 0 ] && echo PASSED || echo FAILED) in $((SECONDS - t0)) s (log: ctest.log)"

# ---- acceptance (issue #13): speed, memory and accuracy of precision = "bf16" -----------------
# One JSON line per run in bench.jsonl, labelled; acceptance.md tabulates them with the ratios the
# issue asks for (mn bf16 >= 1.3x PyTorch --amp --channels-last on WRN-28-10; reserved <= 1.25x
# peak allocated; Fashion-MNIST bf16 within 0.3 points of fp32 at 1.0-28).
JSONL="$OUT/bench.jsonl"
: >"$JSONL"
# label, log, command...: runs it, keeps its last JSON line tagged with the label.
bench() {
  local label=$1 log=$2
  shift 2
  local t=$SECONDS
  "$@" >"$OUT/$log" 2>&1
  local rc=$?
  tail -3 "$OUT/$log"
  note "$label: exit $rc in $((SECONDS - t)) s (log: $log)"
  grep '^{' "$OUT/$log" | tail -1 | python3 -c "import json, sys; [print(json.dumps(dict(json.loads(l), run='$label'))) for l in sys.stdin]" >>"$JSONL"
}
if [ -f configs/cifar100_wrn.toml ]; then
  # memory_format auto is nhwc on CUDA; the nchw run measures what channels-last buys.
  for run in bf16:auto bf16:nchw tf32:auto; do
    p=${run%:*} f=${run#*:}
    bench "mn WRN-28-10 $p$([ "$f" = nchw ] && echo " nchw")" "bench_mn_wrn_${p}_$f.log" timeout 150 "$BUILD/mn" \
      bench train configs/cifar100_wrn.toml --device cuda --set precision=$p --set memory_format=$f --steps 10 --warmup 3
  done
fi
# Issue #13's projection: WRN-28-10 training steps on synthetic CIFAR-100-shaped data (50000 images of
# 3x32x32) through the whole input path, batches built on the GPU and then by the CPU loader:
# seconds per epoch times the config's 200 epochs (target: under 1.5 hours).
if [ -f configs/cifar100_wrn.toml ]; then
  for input in on off; do
    bench "mn WRN-28-10 epoch, input $input" "bench_mn_epoch_$input.log" timeout 240 "$BUILD/mn" bench train \
      configs/cifar100_wrn.toml --device cuda --epoch --steps 50 --warmup 5 --set data.device_input=$input
  done
fi
for flags in "" "--amp" "--channels-last" "--amp --channels-last"; do
  # shellcheck disable=SC2086
  bench "torch WRN-28-10 ${flags:-default}" "bench_torch${flags// /}.log" env PYTHONUNBUFFERED=1 timeout 120 \
    python3 tools/bench_train_torch.py --steps 10 --warmup 3 $flags
done
if [ -f configs/imagenet_mobilenet_v2.toml ]; then
  for p in bf16 tf32; do
    bench "mn MobileNetV2-224 b256 $p" "bench_mn_mnv2_$p.log" timeout 150 "$BUILD/mn" bench train \
      configs/imagenet_mobilenet_v2.toml --device cuda --set precision=$p --set train.batch_size=256 --steps 5 --warmup 2
  done
fi
# Data parallel (issue #15): the recipe's share of one GPU (batch 1024 = 8 x 128) measured here,
# then projected to 2, 4 and 8 GPUs by tools/scaling_projection.py's ring all-reduce model.
if [ -f configs/imagenet_mobilenet_v2.toml ]; then
  bench "mn MobileNetV2-224 b128" "bench_mn_mnv2_b128.log" timeout 150 "$BUILD/mn" bench train \
    configs/imagenet_mobilenet_v2.toml --device cuda --set train.batch_size=128 --steps 5 --warmup 2
  python3 tools/scaling_projection.py "$OUT/bench_mn_mnv2_b128.log" >"$OUT/scaling.md" 2>&1
  note "scaling projection: exit $? (scaling.md, appended to acceptance.md)"
fi
# The default Fashion-MNIST run on the GPU in bf16 and in fp32, then top-1 at 1.0-28 of each.
if [ -d /usr/share/datasets/fashion-mnist ]; then
  for p in bf16 fp32; do
    t0=$SECONDS
    rm -rf "runs/gpu_check_fm_$p"
    # More loader threads than the config's one (sized for a 2-core laptop); they change no value.
    { timeout 200 "$BUILD/mn" train configs/fashion_mnist.toml --set device=cuda --set precision=$p \
        --set name=gpu_check_fm_$p --set data.workers=8 &&
      timeout 60 "$BUILD/mn" sweep "runs/gpu_check_fm_$p" --widths 1.0 --resolutions 28; } >"$OUT/fashion_$p.log" 2>&1
    rc=$?
    top1=$(awk -F, '$1 == "1.0" && $2 == 28 { print $5 }' "runs/gpu_check_fm_$p/sweep.csv" 2>/dev/null)
    note "Fashion-MNIST $p: exit $rc in $((SECONDS - t0)) s, top-1 at 1.0-28: ${top1:-none} (log: fashion_$p.log)"
    [ -n "$top1" ] && echo "{\"run\": \"Fashion-MNIST $p\", \"top1\": $top1}" >>"$JSONL"
  done
else
  note "Fashion-MNIST: skipped (no /usr/share/datasets/fashion-mnist; tools/device_deps.sh packs it)"
fi
python3 - "$JSONL" >"$OUT/acceptance.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r['run']: r for r in rows}
print('| run | precision | layout | ms/step | images/s | peak allocated (MiB) | reserved (MiB) | reserved / peak |')
print('| --- | --- | --- | ---: | ---: | ---: | ---: | ---: |')
for r in rows:
    if 'images_per_s' not in r:
        continue
    reserved = r.get('reserved_mib', r.get('peak_reserved_mib', 0))
    peak = r.get('peak_mem_mib', 0)
    prec = r.get('precision', 'bf16 autocast' if r.get('amp_bf16') else 'fp32 (TF32 convs)')
    layout = r.get('memory_format', 'nhwc' if r.get('channels_last') else 'nchw')
    print(f"| {r['run']} | {prec} | {layout} | {r['ms_per_step']:.1f} | {r['images_per_s']:.1f} | {peak:.0f} | {reserved:.0f} | "
          f"{reserved / peak if peak else 0:.2f} |")
def check(name, ok, detail):
    print(f"- {'PASS' if ok else 'FAIL'}: {name} ({detail})")
print()
mn, torch = by.get('mn WRN-28-10 bf16'), by.get('torch WRN-28-10 --amp --channels-last')
if mn and torch:
    ratio = mn['images_per_s'] / torch['images_per_s']
    check('mn bf16 >= 1.3x PyTorch --amp --channels-last on WRN-28-10', ratio >= 1.3, f'{ratio:.2f}x')
    check('mn bf16 reserved <= 1.25x peak allocated', mn['reserved_mib'] <= 1.25 * mn['peak_mem_mib'],
          f"{mn['reserved_mib'] / mn['peak_mem_mib']:.2f}x")
else:
    print('- MISSING: the WRN-28-10 runs (see their logs)')
nchw = by.get('mn WRN-28-10 bf16 nchw')
if mn and nchw:
    print(f"- mn bf16 channels-last ({mn.get('memory_format', '?')}) / NCHW: "
          f"{mn['images_per_s'] / nchw['images_per_s']:.2f}x images/s")
for input in ('on', 'off'):
    ep = by.get(f'mn WRN-28-10 epoch, input {input}')
    if not ep:
        print(f'- MISSING: the WRN-28-10 epoch run with data.device_input = {input} (see bench_mn_epoch_{input}.log)')
        continue
    detail = (f"input {ep['input']}: {ep['ms_per_step']:.1f} ms/step, {ep['seconds_per_epoch']:.1f} s/epoch x "
              f"{ep['epochs']} = {ep['projected_hours']:.2f} h")
    if input == 'on':
        check('CIFAR-100 WRN-28-10, 200 epochs projected under 1.5 h (batches built on the GPU)',
              ep['projected_hours'] < 1.5, detail)
    else:
        print(f'- for comparison, the CPU loader: {detail}')
fb, ff = by.get('Fashion-MNIST bf16'), by.get('Fashion-MNIST fp32')
if fb and ff:
    d = fb['top1'] - ff['top1']
    check('Fashion-MNIST bf16 within 0.3 points of fp32 at 1.0-28', abs(d) <= 0.3,
          f"bf16 {fb['top1']:.2f}, fp32 {ff['top1']:.2f}, {d:+.2f}")
else:
    print('- MISSING: the Fashion-MNIST runs (see fashion_*.log)')
PY
[ -s "$OUT/scaling.md" ] && { echo; cat "$OUT/scaling.md"; } >>"$OUT/acceptance.md"
cat "$OUT/acceptance.md" | tee -a "$SUMMARY"

# ---- model comparison, cuDNN algorithms logged -------------------------------------------------
for mode in 1 0; do
  t0=$SECONDS
  MN_REQUIRE_GPU=1 MN_CUDNN_LOG=1 MN_CUDNN_BENCHMARK=$mode timeout 180 \
    "$BUILD/test_mutualnet" -tc='CUDA*' -s >"$OUT/models_cudnn_benchmark$mode.log" 2>&1
  rc=$?
  grep -E "worst|ERROR" "$OUT/models_cudnn_benchmark$mode.log" | head -8
  note "models CUDA vs CPU, MN_CUDNN_BENCHMARK=$mode: exit $rc in $((SECONDS - t0)) s (log: models_cudnn_benchmark$mode.log)"
done

# ---- memcheck (only while the whole run stays well inside 8 minutes) ---------------------------
if command -v compute-sanitizer >/dev/null && [ $SECONDS -lt 300 ]; then
  t0=$SECONDS
  MN_REQUIRE_GPU=1 timeout $((420 - SECONDS)) compute-sanitizer --tool memcheck --leak-check no --report-api-errors no \
    "$BUILD/test_cuda" -tce='*cuDNN*,*MutualNet shapes*,*MutualNet step*,*autograd*' >"$OUT/memcheck.log" 2>&1
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
