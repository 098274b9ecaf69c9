#!/usr/bin/env bash
# minigan vs PyTorch, the same recipe: train both side by side, score every epoch with one judge, plot.
#
#   benchmarks/reference_runs.sh                      # the DCGAN, seed 0, 5 epochs (docs/results.md)
#   MODEL=cgan EPOCHS=2 SEEDS="0 1 2" benchmarks/reference_runs.sh
#   DATASET=fake LIMIT=256 EPOCHS=2 EVAL_N=200 JUDGE=... OUT=/tmp/ref IMAGES=/tmp/ref benchmarks/reference_runs.sh
#   TIME_LIMIT=3600 EPOCHS=20 benchmarks/reference_runs.sh     # stop both after an hour (whole epochs count)
#   PARALLEL=1 SEEDS="0 1 2" EPOCHS=2 JUDGE=none benchmarks/reference_runs.sh   # all six trainers at once
#
# The two frameworks run at the same time, one core each (BLAS / OpenMP / torch threads = 1, nice 5),
# so that machine load hits both alike. Each writes OUT/<framework>_seed<S>/: G_epochNNN.npz (minigan
# generator checkpoints, PyTorch's exported), scores.jsonl (the judge's FCD / KID per epoch), log.jsonl.
# Then benchmarks/plot_reference.py writes OUT/scores.json, the overlay figure and samples side by side.
# Options (environment): MODEL dcgan|cgan|gan, EPOCHS, SEEDS, DATA (dataset folder), JUDGE (classifier
# checkpoint), OUT, EVAL_N (generated images per score), LIMIT (first N training images), TIME_LIMIT
# (seconds, SIGTERM to both trainers), PARALLEL (1: all seeds at once, not one after another), DATASET
# (fake: random images, a smoke test), PLOT (0: skip the figures), IMAGES (where the PNGs go, default
# docs/images), PYTHON. JUDGE=none trains without scoring:
# then score each OUT/<framework>_seed<S> with `train_reference.py --score` (same numbers) and plot.
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${MODEL:-dcgan}
EPOCHS=${EPOCHS:-5}
SEEDS=${SEEDS:-0}
DATA=${DATA:-/work/shared/data/$([ "$MODEL" = dcgan ] && echo cifar10 || echo fashion-mnist)}
JUDGE=${JUDGE:-runs/classifier_$([ "$MODEL" = dcgan ] && echo cifar10 || echo fashion_mnist).npz}
OUT=${OUT:-runs/reference_$MODEL}
EVAL_N=${EVAL_N:-10000}
PYTHON=${PYTHON:-python}
LIMIT_ARGS=(--dataset "${DATASET:-real}")
[ -n "${LIMIT:-}" ] && LIMIT_ARGS+=(--limit "$LIMIT")
JUDGE_ARGS=(--classifier "$JUDGE" --eval-n "$EVAL_N")
[ "$JUDGE" = none ] && JUDGE_ARGS=()     # train only; score later with train_reference.py --score
TIMEOUT=()
[ -n "${TIME_LIMIT:-}" ] && TIMEOUT=(timeout -s TERM "$TIME_LIMIT")
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT"
echo "$(date -u '+%F %T') UTC: $MODEL, seeds $SEEDS, $EPOCHS epochs, judge $JUDGE (n=$EVAL_N), out $OUT"

wait_all() { for pid in "${pids[@]}"; do wait "$pid" || echo "trainer $pid exited with $? (124/143: stopped by TIME_LIMIT)"; done; pids=(); }
pids=()
for seed in $SEEDS; do
  for fw in minigan torch; do
    nice -n 5 "${TIMEOUT[@]}" "$PYTHON" benchmarks/train_reference.py --framework "$fw" --model "$MODEL" \
      --epochs "$EPOCHS" --seed "$seed" --data-dir "$DATA" "${LIMIT_ARGS[@]}" "${JUDGE_ARGS[@]}" --out "$OUT/${fw}_seed$seed" > "$OUT/${fw}_seed$seed.log" 2>&1 &
    pids+=($!)
  done
  [ "${PARALLEL:-0}" = 1 ] || wait_all          # PARALLEL=1: every seed's pair at once (they share the cores)
done
wait_all
echo "$(date -u '+%F %T') UTC: training done"
[ "${PLOT:-1}" = 0 ] || [ "$JUDGE" = none ] || "$PYTHON" benchmarks/plot_reference.py --runs "$OUT" --images "${IMAGES:-docs/images}"
