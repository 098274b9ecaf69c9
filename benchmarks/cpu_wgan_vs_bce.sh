#!/usr/bin/env bash
# WGAN-GP beside the BCE DCGAN on CIFAR-10 (JPEG-recovered copy), on this CPU, with the same wall-clock
# budget: both runs start together, each on one BLAS / OpenMP thread under `nice -n 5`, and `timeout`
# stops both with SIGTERM after MINUTES, which makes the training loop save a checkpoint and exit
# cleanly. Then both final generators are scored by examples/evaluate.py with the same judge.
#
#     OUT=/work/runs/hog-train DATA=/work/shared/data/cifar10 MINUTES=32 \
#         CLASSIFIER=/work/runs/classifier_cifar10_cpu.npz bash benchmarks/cpu_wgan_vs_bce.sh train
#     ... bash benchmarks/cpu_wgan_vs_bce.sh score      # later: waits for CLASSIFIER, then n=10,000 each
#     (CLASSIFIER must be the finished judge: the file appears after its first epoch; TAG names the results)
#
# Writes OUT/dcgan_bce_cpu/ and OUT/dcgan_wgan_gp_cpu/ (checkpoint.npz, log.jsonl, samples_*.png,
# train.txt with the printed output), OUT/machine.txt (load before and after) and OUT/*.eval.json.
# Figures for docs/: python docs/make_figures.py --only runs --runs "$OUT".
set -u
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1 OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
OUT="${OUT:-/work/runs/hog-train}"; mkdir -p "$OUT"
DATA="${DATA:-/work/shared/data/cifar10}"
MINUTES="${MINUTES:-32}"
CLASSIFIER="${CLASSIFIER:-/work/runs/classifier_cifar10_cpu.npz}"
TAG="${TAG:-}"                                   # score: suffix of the result files (e.g. one per judge)
PY="${PY:-python}"
COMMON=(--data-dir "$DATA" --epochs 100 --batch-size 64 --sample-every 100 --no-progress)

train() {
    { date -u; uptime; nproc; git log --oneline -1; } > "$OUT/machine.txt"
    for run in "dcgan_bce_cpu bce" "dcgan_wgan_gp_cpu wgan-gp"; do
        set -- $run
        mkdir -p "$OUT/$1"
        nice -n 5 timeout -s TERM --kill-after=120 "${MINUTES}m" \
            "$PY" examples/dcgan_cifar.py "${COMMON[@]}" --loss "$2" --out "$OUT/$1" \
            > "$OUT/$1/train.txt" 2>&1 &
    done
    wait
    { echo "--- after"; date -u; uptime; } >> "$OUT/machine.txt"
    tail -n 3 "$OUT"/dcgan_*_cpu/train.txt
}

score() {
    for _ in $(seq 360); do [ -f "$CLASSIFIER" ] && break; sleep 10; done   # up to an hour
    [ -f "$CLASSIFIER" ] || { echo "no judge at $CLASSIFIER"; exit 1; }
    for name in dcgan_bce_cpu dcgan_wgan_gp_cpu; do
        nice -n 5 "$PY" examples/evaluate.py --checkpoint "$OUT/$name/checkpoint.npz" \
            --classifier "$CLASSIFIER" --data-dir "$DATA" --n 10000 --out "$OUT/$name.eval$TAG.json" \
            > "$OUT/$name.eval$TAG.txt" 2>&1
        tail -n 4 "$OUT/$name.eval$TAG.txt"
    done
}

"${1:-train}"
