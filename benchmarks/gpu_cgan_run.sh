#!/usr/bin/env bash
# The cGAN on the real Fashion-MNIST on a lent GPU, built to survive being cut off: every 15 s the run's
# logs and pictures are packed into $OUT/cgan_run.tar.gz and the generator is exported to
# $OUT/cgan_G.npz (from the atomically written checkpoint), so whatever the device's time limit leaves
# comes back. At the end: the final scores with n = 10,000 generated images.
#
#     OUT=/some/folder DATA=.gpu/fashion-mnist CLS=.gpu/classifier_fashion_mnist.npz T_CGAN=165 \
#         bash benchmarks/gpu_cgan_run.sh
set -u
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-$PWD/gpu_out}"; mkdir -p "$OUT"
DATA="${DATA:-.gpu/fashion-mnist}" CLS="${CLS:-.gpu/classifier_fashion_mnist.npz}" T_CGAN="${T_CGAN:-165}"
RUN=/tmp/cgan_run; rm -rf "$RUN"; mkdir -p "$RUN"

snapshot() {
    tar -czf "$OUT/.cgan_run.tar.gz" --exclude='*.npz' -C /tmp cgan_run && mv "$OUT/.cgan_run.tar.gz" "$OUT/cgan_run.tar.gz"
    [ -f "$RUN/checkpoint.npz" ] && python -c "from minigan.evaluation import export_generator as e; e('$RUN/checkpoint.npz', '$OUT/.cgan_G.npz')" \
        && mv "$OUT/.cgan_G.npz" "$OUT/cgan_G.npz"
}

{
    date; nvidia-smi -L
    timeout -s TERM --kill-after=20 "$T_CGAN" python examples/cgan_fashion_mnist.py --backend cupy \
        --data-dir "$DATA" --epochs 50 --batch-size 128 --out "$RUN" --sample-every 0 --no-progress \
        --classifier "$CLS" --eval-every 1 --eval-n 1000 > "$RUN/train.log" 2>&1 &
    train=$!
    while kill -0 $train 2>/dev/null; do sleep 15; snapshot; tail -1 "$RUN/train.log" | cut -c1-200; done
    wait $train; echo "cgan exit $?"
    snapshot
    timeout 60 python examples/evaluate.py --checkpoint "$OUT/cgan_G.npz" --classifier "$CLS" --data-dir "$DATA" \
        --backend cupy --n 10000 --out "$OUT/cgan_eval.json"
    date
} 2>&1 | tee "$OUT/gpu_cgan.log"
