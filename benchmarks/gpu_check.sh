#!/usr/bin/env bash
# One prepared check of minigan on a GPU machine: versions, the test suite on CuPy, a DCGAN smoke run,
# data-parallel training over NCCL (stage distributed_gpu), and the training-step benchmark CuPy vs
# PyTorch CUDA. Run it from the repository root:
#
#     OUT=/some/folder bash benchmarks/gpu_check.sh
#
# Every stage runs under `timeout` and the script continues after a failure; the exit codes are
# summarised at the end. The whole script keeps to GPU_CHECK_BUDGET seconds (default 480, i.e. well
# under 9 minutes): a stage gets min(its own limit, what is left), and is skipped when too little is left.
#
# What comes back in $OUT (at most 8 files): gpu_check.log (everything printed), bench_gpu.md (the
# step benchmark's table), results.tar.gz (the rest: pytest reports, benchmark JSON and tables, the
# smoke run's log and PNGs; checkpoints *.npz are left out: tens of MB).
#
# Knobs (environment): GPU_CHECK_BUDGET (s), GPU_CHECK_SKIP="stage names", GPU_CHECK_QUICK=1 (tiny
# benchmark settings), GPU_CHECK_BACKEND / GPU_CHECK_DEVICE (default cupy / cuda; numpy / cpu to try
# the script on a CPU machine), T_<STAGE> per-stage limits in seconds (e.g. T_PYTEST_CUPY=200).
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

BUDGET="${GPU_CHECK_BUDGET:-480}"
RESERVE=15                                                        # seconds kept for the summary and packing
BACKEND="${GPU_CHECK_BACKEND:-cupy}"
DEVICE="${GPU_CHECK_DEVICE:-cuda}"
QUICK="${GPU_CHECK_QUICK:-0}"
SKIP=" ${GPU_CHECK_SKIP:-} "
BENCH_QUICK=""                                                    # unquoted below: empty or --quick
LIMIT=1024
[ "$QUICK" = 1 ] && BENCH_QUICK="--quick" && LIMIT=256
export BACKEND DEVICE WORK LIMIT BENCH_QUICK
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
    timeout --kill-after=10 "$limit" "$@"
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
    nvidia-smi -L
    nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.max.sm --format=csv
    echo "--- nproc: $(nproc), memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
    echo "--- git: $(git rev-parse --short HEAD 2>/dev/null) $(git status --short 2>/dev/null | wc -l) changed files"
    python - <<'EOF'
import platform, importlib
print("python", platform.python_version())
for name in ("numpy", "cupy", "torch", "pytest", "hypothesis", "matplotlib", "tqdm"):
    try:
        module = importlib.import_module(name)
        print(f"{name:<11}", getattr(module, "__version__", "?"))
    except Exception as err:
        print(f"{name:<11} NOT AVAILABLE: {type(err).__name__}: {err}")
try:
    import cupy
    print("cupy: CUDA runtime", cupy.cuda.runtime.runtimeGetVersion(), "driver",
          cupy.cuda.runtime.driverGetVersion(), "devices", cupy.cuda.runtime.getDeviceCount())
except Exception as err:
    print("cupy runtime: FAILED", type(err).__name__, err)
try:
    import torch
    print("torch: cuda available", torch.cuda.is_available(), "CUDA", torch.version.cuda,
          "cudnn", torch.backends.cudnn.version(),
          "device", torch.cuda.get_device_name() if torch.cuda.is_available() else None)
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

# ------------------------------------------------------------------------------------------------------
# extra_stages: THE PLACE FOR THE LEAD'S REAL-DATA TRAINING STAGES. Add lines like
#     stage train_dcgan_cifar 240 python examples/dcgan_cifar.py --backend "$BACKEND" --epochs 1 \
#         --out "$WORK/dcgan_cifar" --no-progress
# (write into "$WORK/..." so the outputs are packed into results.tar.gz; *.npz files are not packed).
# The budget logic above applies: a stage gets at most what is left of GPU_CHECK_BUDGET.
# ------------------------------------------------------------------------------------------------------
export -f info

# data-parallel training over NCCL (minigan/parallel/distributed.py, docs/distributed.md), never run on a GPU before:
# the tiny GAN on one process vs W ranks (same weights?), the DCGAN example under mpiexec, 1 vs W GPUs.
# W = 2 with two GPUs or more; with one GPU, W = 1 (NCCL refuses two ranks on one GPU), which still makes
# every NCCL call. Needs mpi4py + mpich (pip install -e ".[mpi]") and NCCL (pip install nvidia-nccl-cu12).
distributed_gpu() {
    python -c "import mpi4py" || { echo "mpi4py missing: pip install -e '.[mpi]'"; return 3; }
    local mpiexec ngpu w=2 rc=0
    if [ "$BACKEND" = cupy ]; then
        python -c "from cupy.cuda import nccl; assert nccl.available, 'no NCCL library'" \
            || { echo "NCCL missing: pip install nvidia-nccl-cu12"; return 4; }
        ngpu=$(python -c "import cupy; print(cupy.cuda.runtime.getDeviceCount())")
        (( ngpu < 2 )) && w=1
        echo "--- $ngpu GPU(s): $w rank(s)"
    fi
    mpiexec="$(dirname "$(command -v python)")/mpiexec"
    [ -x "$mpiexec" ] || mpiexec=mpiexec
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
    "$mpiexec" -n "$w" python examples/dcgan_cifar.py --backend "$BACKEND" --distributed --dataset fake --epochs 1 --batch-size 64 \
        --limit "$LIMIT" --out "$WORK/dcgan_nccl" --no-progress || rc=1
    if (( w >= 2 )); then
        python benchmarks/bench_distributed.py --backend "$BACKEND" --configs 1:64 2:64 2:128 --rounds 2 --iters 10 $BENCH_QUICK \
            --out "$WORK" || rc=1
    fi
    return $rc
}
export -f distributed_gpu

extra_stages() {
    :
}

run_all() {
    echo "minigan GPU check, $(date '+%Y-%m-%d %H:%M:%S'), budget ${BUDGET} s, backend $BACKEND, device $DEVICE, quick $QUICK"
    echo "repository: $PWD; OUT: $OUT"

    stage info 60 bash -c info                                   # a function: exported below

    # the suite on CuPy only (tests/conftest.py reads MINIGAN_TEST_BACKENDS)
    stage pytest_cupy "${T_PYTEST_CUPY:-150}" env MINIGAN_TEST_BACKENDS=cupy \
        python -m pytest -x -q -p no:cacheprovider --durations=15 --junitxml="$WORK/pytest_cupy.xml"

    # bit-exact resume on CuPy: 2 epochs == 1 epoch + --resume, checkpoint arrays compared bit for bit
    # (tests/test_resume_backends.py; its backend fixture includes cupy when a GPU is visible)
    stage resume_cupy "${T_RESUME_CUPY:-90}" python -m pytest -q -p no:cacheprovider \
        tests/test_resume_backends.py -k "cupy" --junitxml="$WORK/pytest_resume_cupy.xml"

    # the 64x64 DCGAN on fake data, one short epoch
    stage dcgan64_fake "${T_DCGAN64_FAKE:-90}" python examples/dcgan_cifar.py --backend "$BACKEND" \
        --dataset fake --image-size 64 --epochs 1 --limit 256 --out "$WORK/dcgan64_fake" --no-progress

    # the smoke run of the main example on fake data
    stage dcgan_fake "${T_DCGAN_FAKE:-120}" python examples/dcgan_cifar.py --backend "$BACKEND" \
        --dataset fake --epochs 1 --limit "$LIMIT" --out "$OUT/dcgan_fake" --overwrite --no-progress

    # data-parallel over NCCL: never run on a GPU before this stage
    stage distributed_gpu "${T_DISTRIBUTED_GPU:-150}" bash -c distributed_gpu

    # one training iteration, CuPy vs PyTorch CUDA, batch 128 and 64, interleaved, fresh processes
    local t_bench
    t_bench=$(limit_for "${T_BENCH_STEP:-170}")
    stage bench_step "$t_bench" python benchmarks/bench_dcgan_step.py \
        --framework-pairs "minigan:$BACKEND" "torch:$DEVICE" --batch-sizes 128 64 --rounds 2 \
        --time-budget "$(bench_budget "$t_bench" 60)" --timeout 120 $BENCH_QUICK \
        --out "$OUT/bench_gpu.md" --json "$WORK/bench_gpu.json"

    extra_stages

    # the plain suite: numpy, strict and (when a GPU is visible) cupy
    stage pytest_all "${T_PYTEST_ALL:-150}" python -m pytest -x -q -p no:cacheprovider \
        --junitxml="$WORK/pytest_all.xml"

    # per-layer forward + backward, CuPy vs PyTorch CUDA
    local t_ops
    t_ops=$(limit_for "${T_BENCH_OPS:-100}")
    stage bench_ops "$t_ops" python benchmarks/bench_ops.py --backend "$BACKEND" --device "$DEVICE" \
        --rounds 2 --time-budget "$(bench_budget "$t_ops" 45)" --timeout 90 $BENCH_QUICK \
        --out "$WORK/bench_ops_gpu.md" --json "$WORK/bench_ops_gpu.json"

    # the three transposed convolutions, forward only (for fastest_conv_transpose's CuPy branch)
    stage bench_convt "$(limit_for "${T_BENCH_CONVT:-60}")" python benchmarks/bench_conv_transpose.py \
        --backend "$BACKEND" --rounds 3 $BENCH_QUICK --out "$WORK/bench_conv_transpose_gpu.md"

    # the cGAN step, if time is left
    local t_cgan
    t_cgan=$(limit_for "${T_BENCH_CGAN:-100}")
    stage bench_cgan "$t_cgan" python benchmarks/bench_dcgan_step.py --model cgan \
        --framework-pairs "minigan:$BACKEND" "torch:$DEVICE" --batch-sizes 64 --rounds 2 \
        --time-budget "$(bench_budget "$t_cgan" 50)" --timeout 90 $BENCH_QUICK \
        --out "$WORK/bench_cgan_gpu.md" --json "$WORK/bench_cgan_gpu.json"

    echo
    echo "=== summary ($(( SECONDS - START )) s of ${BUDGET} s)"
    local failed=0 i
    for i in "${!STAGE_NAMES[@]}"; do
        printf '  %-18s %-10s %5s s\n' "${STAGE_NAMES[$i]}" "${STAGE_CODES[$i]}" "${STAGE_SECONDS[$i]}"
        [[ "${STAGE_CODES[$i]}" =~ ^[0-9]+$ ]] && (( STAGE_CODES[$i] != 0 )) && failed=$(( failed + 1 ))
    done
    echo "  $failed stage(s) failed"
    [ -f "$OUT/bench_gpu.md" ] && { echo; cat "$OUT/bench_gpu.md"; }
    return "$failed"
}

run_all 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}

# pack everything but gpu_check.log and bench_gpu.md into one archive (the transfer takes 8 files)
{
    echo
    echo "=== packing $OUT"
    if [ -d "$OUT/dcgan_fake" ]; then
        ls -l "$OUT/dcgan_fake"
        mv "$OUT/dcgan_fake" "$WORK/dcgan_fake"
    fi
    tar -czf "$OUT/results.tar.gz" --exclude='*.npz' -C "$OUT" results && rm -rf "$WORK"
    ls -l "$OUT"
    echo "exit status $status"
} >> "$LOG" 2>&1
exit "$status"
