#!/usr/bin/env bash
# The GPU path of minigan, checked in one command of under 9 minutes on a fresh GPU machine (issue 28):
#
#     OUT=/some/folder bash benchmarks/gpu_check.sh             # on a GPU machine (CuPy + PyTorch CUDA)
#     OUT=/tmp/gpu_check bash benchmarks/gpu_check.sh --dry-run # on a CPU: every stage, NumPy / strict
#
# Stages, in this order (the speed number first, so that a run cut short still has it):
#   info            versions, GPU, TF32 settings; one conv forward + backward, NumPy against the backend
#   bench_step      one DCGAN training iteration, minigan on CuPy against PyTorch CUDA, batch 64 and 128
#                   (benchmarks/bench_dcgan_step.py: fresh processes, interleaved rounds)
#   step_equality   one DCGAN, cGAN and WGAN-GP iteration on NumPy and on CuPy from the same weights,
#                   batch and noise, both against a float64 run (benchmarks/gpu_step_equality.py)
#   pytest_cupy     the test suite's CuPy cases alone (MINIGAN_TEST_BACKENDS=cupy, tests/conftest.py),
#                   without -x; the failures are listed at the end (pytest -rfE) and in results/
#   headline_resume `examples/dcgan_cifar.py --backend cupy` on a small slice, stopped by Ctrl-C
#                   (SIGINT) mid-epoch, then --resume: the run must finish with every iteration logged once
#   (then, only with time left: distributed_gpu, bench_cgan, bench_ops, bench_convt)
#
# Time: each stage runs under `timeout` with its own limit (T_<STAGE>, seconds), and the whole script
# keeps to GPU_CHECK_BUDGET (default 480 s, with 15 s kept for the summary and packing): a stage gets
# min(its limit, what is left) and is skipped under 20 s. The five stages above have limits adding up
# to 20 + 130 + 50 + 150 + 75 = 425 s. A stage that runs out gets SIGINT first (pytest then still
# prints its summary and writes its report), SIGKILL 10 s later. The script goes on after a failure.
#
# Kernel cache: CuPy compiles each kernel once and keeps it in CUPY_CACHE_DIR, here $OUT/kernel_cache.
# At the end it is packed into $OUT/kernel_cache.tar.gz (split into 15 MB parts if larger); give that
# file back as GPU_CHECK_KERNEL_CACHE (default: .gpu/kernel_cache.tar.gz in the repository, a git-ignored folder) and
# the next run starts with every kernel compiled: the log says how many kernels each run added.
#
# What comes back in $OUT (at most 8 files): gpu_check.log (everything printed), bench_gpu.md (the step
# benchmark's table), results.tar.gz (pytest reports, JSON, the headline run's logs and PNGs; no
# checkpoints), kernel_cache.tar.gz.
#
# --dry-run (automatic when CuPy or a GPU is missing): the same stages on the CPU, so that a device
# run wastes no time on a broken script: minigan on NumPy against PyTorch CPU (--quick settings), NumPy
# against the strict stand-in for CuPy (step_equality; pytest_cupy runs MINIGAN_TEST_BACKENDS=strict),
# the headline command on NumPy, smaller. Limits are the same; the dry run is slower than the GPU.
#
# Knobs (environment): GPU_CHECK_BUDGET (s), GPU_CHECK_SKIP="stage names", GPU_CHECK_QUICK=1 (tiny
# benchmark settings), GPU_CHECK_DATA=folder with CIFAR-10 (default: fake images; the device machine has
# no dataset and no internet), GPU_CHECK_KERNEL_CACHE=tarball, T_<STAGE> per-stage limits (T_PYTEST_CUPY=200).
set -u

cd "$(dirname "$0")/.." || exit 1                                 # the repository root
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$OUT/results"                                               # packed into results.tar.gz at the end
mkdir -p "$WORK"
LOG="$OUT/gpu_check.log"

DRY_RUN=0
[ "${1:-}" = "--dry-run" ] && DRY_RUN=1
if [ "$DRY_RUN" = 0 ] && ! python -c "import cupy, sys; sys.exit(cupy.cuda.runtime.getDeviceCount() < 1)" 2>/dev/null; then
    echo "CuPy or a GPU is missing here: running the dry run (--dry-run) instead"
    DRY_RUN=1
fi

BUDGET="${GPU_CHECK_BUDGET:-480}"
RESERVE=15                                                        # seconds kept for the summary and packing
QUICK="${GPU_CHECK_QUICK:-0}"
SKIP=" ${GPU_CHECK_SKIP:-} "
if [ "$DRY_RUN" = 1 ]; then
    BACKEND=numpy DEVICE=cpu TEST_BACKENDS=strict EQUALITY_BACKENDS="numpy strict" QUICK=1
    HEADLINE=(--limit 256 --batch-size 32)                        # 8 iterations per epoch
else
    BACKEND=cupy DEVICE=cuda TEST_BACKENDS=cupy EQUALITY_BACKENDS="numpy cupy"
    HEADLINE=(--limit 2048 --batch-size 128)                      # 16 iterations per epoch
fi
BENCH_QUICK=""                                                    # unquoted below: empty or --quick
LIMIT=1024
[ "$QUICK" = 1 ] && BENCH_QUICK="--quick" && LIMIT=256
if [ -n "${GPU_CHECK_DATA:-}" ]; then
    DATA=(--data-dir "$GPU_CHECK_DATA")
else
    DATA=(--dataset fake)
fi
export BACKEND DEVICE WORK LIMIT BENCH_QUICK

# CuPy's kernel cache: restored from the last run's tarball, packed again at the end
export CUPY_CACHE_DIR="$OUT/kernel_cache"
KERNEL_CACHE_IN="${GPU_CHECK_KERNEL_CACHE:-$PWD/.gpu/kernel_cache.tar.gz}"
mkdir -p "$CUPY_CACHE_DIR"
if ls "$KERNEL_CACHE_IN"* >/dev/null 2>&1; then
    cat "$KERNEL_CACHE_IN"* | tar -xzf - -C "$OUT"                 # one file, or its parts .aa, .ab, ...
fi
KERNELS_AT_START=$(find "$CUPY_CACHE_DIR" -type f | wc -l)
START=$SECONDS

STAGE_NAMES=()
STAGE_CODES=()
STAGE_SECONDS=()

# limit_for SECONDS: the limit a stage will get now (its own, or what is left of the budget if less)
limit_for() {
    local left=$(( BUDGET - RESERVE - (SECONDS - START) ))
    (( $1 < left )) && echo "$1" || echo "$left"
}

# a benchmark's --time-budget: its stage limit minus what its last trial and report may take (but at
# least a third of the limit, so that a squeezed stage still measures something)
bench_budget() {
    local b=$(( $1 - $2 )) third=$(( $1 / 3 ))
    (( b > third )) && echo "$b" || echo "$third"
}

# stage NAME LIMIT_SECONDS COMMAND...: run COMMAND under `timeout`, record its exit code; never stops the script
stage() {
    local name=$1 limit=$2
    shift 2
    local left=$(( BUDGET - RESERVE - (SECONDS - START) ))
    if [[ "$SKIP" == *" $name "* ]]; then
        echo "=== stage $name: skipped (GPU_CHECK_SKIP)"
        STAGE_NAMES+=("$name"); STAGE_CODES+=("skipped"); STAGE_SECONDS+=(0)
        return 0
    fi
    if (( left < 20 )); then
        echo "=== stage $name: skipped, only ${left} s of the ${BUDGET} s budget left"
        STAGE_NAMES+=("$name"); STAGE_CODES+=("no time"); STAGE_SECONDS+=(0)
        return 0
    fi
    (( limit > left )) && limit=$left
    echo
    echo "=== [$(date +%H:%M:%S)] stage $name (limit ${limit} s): $*"
    local t0=$SECONDS
    timeout -s INT --kill-after=10 "$limit" "$@"
    local rc=$?
    local took=$(( SECONDS - t0 ))
    local note=""
    (( rc == 124 || rc == 137 )) && note=" (TIMED OUT)"
    echo "=== stage $name: exit code ${rc}${note} after ${took} s"
    STAGE_NAMES+=("$name"); STAGE_CODES+=("$rc"); STAGE_SECONDS+=("$took")
    return 0
}

info() {
    echo "--- nvidia-smi -L"
    nvidia-smi -L 2>&1
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.max.sm --format=csv 2>&1
    echo "--- nproc: $(nproc), memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
    echo "--- git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --short 2>/dev/null | wc -l) changed files"
    echo "--- CuPy kernel cache $CUPY_CACHE_DIR: $KERNELS_AT_START files at the start"
    python - <<'EOF'
import os, platform, importlib
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch", "pytest", "hypothesis", "matplotlib", "tqdm", "mpi4py"):
    try:
        module = importlib.import_module(name)
        print(f"{name:<11}", getattr(module, "__version__", "?"))
    except Exception as err:
        print(f"{name:<11} NOT AVAILABLE: {type(err).__name__}: {err}")
try:
    import cupy
    print("cupy: CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "driver",
          cupy.cuda.runtime.driverGetVersion(), "devices", cupy.cuda.runtime.getDeviceCount(),
          "| TF32 (CUPY_TF32):", os.environ.get("CUPY_TF32", "0 (unset: off)"))
    from cupy.cuda import nccl
    print("cupy NCCL available:", nccl.available, "| get_unique_id ->", type(nccl.get_unique_id()).__name__
          if nccl.available else "-")
except Exception as err:
    print("cupy runtime: FAILED", type(err).__name__, err)
try:
    import torch
    print("torch: cuda available", torch.cuda.is_available(), "CUDA", torch.version.cuda,
          "cudnn", torch.backends.cudnn.version(),
          "device", torch.cuda.get_device_name() if torch.cuda.is_available() else None)
    print("torch TF32: matmul", torch.backends.cuda.matmul.allow_tf32, "(float32_matmul_precision",
          torch.get_float32_matmul_precision() + "), cuDNN convolutions", torch.backends.cudnn.allow_tf32)
except Exception as err:
    print("torch: FAILED", type(err).__name__, err)
EOF
    echo "--- minigan on the $BACKEND backend: one conv forward + backward against NumPy"
    python - "$BACKEND" <<'EOF'
import sys
import numpy as np
import minigan as mg
import minigan.functional as F
rng = np.random.default_rng(0)
x = rng.standard_normal((2, 3, 8, 8)).astype(np.float32)
w = rng.standard_normal((4, 3, 4, 4)).astype(np.float32)
out = {}
for name in ("numpy", sys.argv[1]):
    mg.set_backend(name)
    xt, wt = mg.tensor(x, requires_grad=True), mg.tensor(w, requires_grad=True)
    y = F.conv2d(xt, wt, stride=2, padding=1)
    (y * y).sum().backward()
    out[name] = (y.numpy(), mg.to_numpy(wt.grad))
    print(name, "->", y, "backend of grad:", type(wt.grad).__module__)
err = max(float(np.abs(a - b).max()) for a, b in zip(out["numpy"], out[sys.argv[1]]))
print(f"max |numpy - {sys.argv[1]}| = {err:.2e}")
sys.exit(0 if err < 1e-3 else 1)
EOF
}
export -f info
export CUPY_CACHE_DIR KERNELS_AT_START

# The headline command, stopped by Ctrl-C mid-epoch and resumed: every iteration must be logged once,
# and the resumed run must finish both epochs.
headline_resume() {
    local out="$WORK/headline" rc=0 pid i
    # shellcheck disable=SC2206
    local cmd=(python examples/dcgan_cifar.py --backend "$BACKEND" $DATA_STR $HEADLINE_STR --epochs 2
               --sample-every 0 --no-progress --out "$out")          # (bash exports no arrays: strings)
    echo "--- ${cmd[*]} --overwrite, then Ctrl-C after 5 iterations"
    "${cmd[@]}" --overwrite > "$WORK/headline_first.txt" 2>&1 &
    pid=$!
    for (( i = 0; i < 1200; i++ )); do                            # at most 120 s
        [ -f "$out/log.jsonl" ] && (( $(grep -c '"loss_D"' "$out/log.jsonl") >= 5 )) && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -INT "$pid" 2>/dev/null
    wait "$pid"
    echo "first run: exit code $? ($(grep -c '"loss_D"' "$out/log.jsonl" 2>/dev/null) iterations logged)"
    tail -n 3 "$WORK/headline_first.txt"
    grep -q "stopped by signal" "$WORK/headline_first.txt" || { echo "FAILED: the first run did not stop on SIGINT"; rc=1; }
    echo "--- ${cmd[*]} --resume"
    "${cmd[@]}" --resume > "$WORK/headline_resumed.txt" 2>&1 || rc=1
    tail -n 3 "$WORK/headline_resumed.txt"
    python - "$out" <<'EOF' || rc=1
import json, sys
from minigan.run.checkpoint import load_checkpoint
records = [json.loads(line) for line in open(sys.argv[1] + "/log.jsonl")]
iterations = [r["iteration"] for r in records if "loss_D" in r]
epochs = [r["epoch"] for r in records if r.get("event") == "epoch_end"]
_, meta = load_checkpoint(sys.argv[1] + "/checkpoint.npz")
print(f"log: iterations {iterations[0]}..{iterations[-1]} ({len(iterations)} lines), epochs ended {epochs}, "
      f"checkpoint at epoch {meta.get('epoch')} batch {meta.get('batch')}, backend {meta.get('backend')}")
ok = iterations == list(range(1, len(iterations) + 1)) and epochs == [1, 2]
print("resume continued the run: every iteration logged once, both epochs ended" if ok else
      "FAILED: iterations missing or repeated, or an epoch not ended")
sys.exit(0 if ok else 1)
EOF
    return $rc
}
export -f headline_resume
export HEADLINE_STR="${HEADLINE[*]}" DATA_STR="${DATA[*]}"

# data-parallel training over NCCL (minigan/parallel/distributed.py, docs/distributed.md), never run on a GPU before:
# the tiny GAN on one process vs W ranks (same weights?), 1 vs W GPUs. W = 2 with two GPUs or more; with one
# GPU, W = 1 (NCCL refuses two ranks on one GPU), which still makes every NCCL call.
distributed_gpu() {
    python -c "import mpi4py" || { echo "mpi4py missing: pip install -e '.[mpi]'"; return 3; }
    local mpiexec ngpu w=2 rc=0
    if [ "$BACKEND" = cupy ]; then
        python -c "from cupy.cuda import nccl; assert nccl.available, 'no NCCL library'" \
            || { echo "NCCL missing: pip install nvidia-nccl-cu13"; return 4; }
        ngpu=$(python -c "import cupy; print(cupy.cuda.runtime.getDeviceCount())")
        (( ngpu < 2 )) && w=1
        echo "--- $ngpu GPU(s): $w rank(s)"
    fi
    mpiexec="$(dirname "$(command -v python)")/mpiexec"
    [ -x "$mpiexec" ] || mpiexec=mpiexec
    command -v "$mpiexec" >/dev/null || { echo "mpiexec missing: pip install -e '.[mpi]'"; return 3; }
    python tests/distributed_run.py --backend "$BACKEND" --out "$WORK/dist_one" || rc=1
    "$mpiexec" -n "$w" python tests/distributed_run.py --backend "$BACKEND" --distributed --out "$WORK/dist_nccl" || rc=1
    python - "$WORK/dist_one" "$WORK/dist_nccl" <<'EOF' || rc=1
import sys
import numpy as np
from minigan.run.checkpoint import load_checkpoint
one, _ = load_checkpoint(sys.argv[1] + "/checkpoint.npz")
nccl, meta = load_checkpoint(sys.argv[2] + "/checkpoint.npz")
worst = max((float(np.abs(one[k] - nccl[k]).max()), k) for k in one if one[k].dtype.kind == "f")
print("run on", meta["distributed"], meta["backend"], "against one process: max |difference|", worst)
sys.exit(0 if worst[0] < 1e-4 else 1)
EOF
    return $rc
}
export -f distributed_gpu

run_all() {
    local mode="GPU"
    [ "$DRY_RUN" = 1 ] && mode="DRY RUN on the CPU"
    echo "minigan GPU check ($mode), $(date '+%Y-%m-%d %H:%M:%S'), budget ${BUDGET} s, backend $BACKEND, device $DEVICE, quick $QUICK"
    echo "repository: $PWD; OUT: $OUT; data: ${DATA[*]}"

    stage info "${T_INFO:-20}" bash -c info

    # one training iteration, minigan vs PyTorch, batch 64 and 128, interleaved, fresh processes: FIRST
    local t_bench
    t_bench=$(limit_for "${T_BENCH_STEP:-130}")
    stage bench_step "$t_bench" python benchmarks/bench_dcgan_step.py \
        --framework-pairs "minigan:$BACKEND" "torch:$DEVICE" --batch-sizes 64 128 --rounds 2 \
        --time-budget "$(bench_budget "$t_bench" 40)" --timeout 90 $BENCH_QUICK \
        --out "$OUT/bench_gpu.md" --json "$WORK/bench_gpu.json"

    # the DCGAN, cGAN and WGAN-GP iteration: NumPy and CuPy from the same weights, batch and noise
    # shellcheck disable=SC2086
    stage step_equality "${T_STEP_EQUALITY:-50}" python benchmarks/gpu_step_equality.py --backends $EQUALITY_BACKENDS

    # the suite's CuPy cases alone (tests/conftest.py reads MINIGAN_TEST_BACKENDS), every failure listed
    stage pytest_cupy "${T_PYTEST_CUPY:-150}" env MINIGAN_TEST_BACKENDS="$TEST_BACKENDS" \
        python -m pytest -q -rfE -p no:cacheprovider --continue-on-collection-errors --durations=10 \
        --junitxml="$WORK/pytest_cupy.xml"

    # the headline command: trains, is interrupted (SIGINT), resumes
    stage headline_resume "${T_HEADLINE_RESUME:-75}" bash -c headline_resume

    # --- only with time left ------------------------------------------------------------------------
    stage distributed_gpu "$(limit_for "${T_DISTRIBUTED_GPU:-90}")" bash -c distributed_gpu

    local t_cgan
    t_cgan=$(limit_for "${T_BENCH_CGAN:-100}")
    stage bench_cgan "$t_cgan" python benchmarks/bench_dcgan_step.py --model cgan \
        --framework-pairs "minigan:$BACKEND" "torch:$DEVICE" --batch-sizes 64 --rounds 2 \
        --time-budget "$(bench_budget "$t_cgan" 50)" --timeout 90 $BENCH_QUICK \
        --out "$WORK/bench_cgan_gpu.md" --json "$WORK/bench_cgan_gpu.json"

    local t_ops
    t_ops=$(limit_for "${T_BENCH_OPS:-100}")
    stage bench_ops "$t_ops" python benchmarks/bench_ops.py --backend "$BACKEND" --device "$DEVICE" \
        --rounds 2 --time-budget "$(bench_budget "$t_ops" 45)" --timeout 90 $BENCH_QUICK \
        --out "$WORK/bench_ops_gpu.md" --json "$WORK/bench_ops_gpu.json"

    stage bench_convt "$(limit_for "${T_BENCH_CONVT:-60}")" python benchmarks/bench_conv_transpose.py \
        --backend "$BACKEND" --rounds 3 $BENCH_QUICK --out "$WORK/bench_conv_transpose_gpu.md"

    echo
    echo "=== summary ($(( SECONDS - START )) s of ${BUDGET} s; $mode)"
    local failed=0 i
    for i in "${!STAGE_NAMES[@]}"; do
        printf '  %-18s %-10s %5s s\n' "${STAGE_NAMES[$i]}" "${STAGE_CODES[$i]}" "${STAGE_SECONDS[$i]}"
        [[ "${STAGE_CODES[$i]}" =~ ^[0-9]+$ ]] && (( STAGE_CODES[$i] != 0 )) && failed=$(( failed + 1 ))
    done
    echo "  $failed stage(s) failed"
    echo "  CuPy kernel cache: $KERNELS_AT_START files at the start, $(find "$CUPY_CACHE_DIR" -type f | wc -l) at the end"
    [ -f "$OUT/bench_gpu.md" ] && { echo; cat "$OUT/bench_gpu.md"; }
    return "$failed"
}

run_all 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}

# pack: results/ into results.tar.gz (no checkpoints: tens of MB), the kernel cache into kernel_cache.tar.gz
{
    echo
    echo "=== packing $OUT"
    tar -czf "$OUT/results.tar.gz" --exclude='*.npz' -C "$OUT" results && rm -rf "$WORK"
    tar -czf "$OUT/kernel_cache.tar.gz" -C "$OUT" kernel_cache && rm -rf "$CUPY_CACHE_DIR"
    if (( $(stat -c %s "$OUT/kernel_cache.tar.gz") > 15000000 )); then    # the device tool returns files <= 16 MiB
        split -b 15000000 "$OUT/kernel_cache.tar.gz" "$OUT/kernel_cache.tar.gz." && rm "$OUT/kernel_cache.tar.gz"
    fi
    ls -l "$OUT"
    echo "exit status $status"
} >> "$LOG" 2>&1
exit "$status"
