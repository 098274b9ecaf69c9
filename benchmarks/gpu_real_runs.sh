#!/usr/bin/env bash
# Real-data training on a lent GPU, in one call that fits the device budget (about 7 minutes):
#   - the Fashion-MNIST classifier (the FCD / conditional-accuracy judge), then the cGAN with a score
#     every epoch, and the plain GAN beside it; both stopped by SIGTERM at their time limit, which makes
#     the training loop save a checkpoint and exit cleanly (the run reports how many epochs it finished);
#   - meanwhile: the tests on the CuPy backend and the DCGAN smoke run on fake data;
#   - then the final scores (n = 10,000) and the step benchmark CuPy vs PyTorch CUDA, alone on the GPU.
#
#     OUT=/some/folder DATA=.gpu/fashion-mnist bash benchmarks/gpu_real_runs.sh
#
# Comes back in $OUT: gpu_runs.log, results.tar.gz (logs, PNGs, JSON scores, benchmark table) and the
# small generator-only / classifier checkpoints (cgan_G.npz, gan_G.npz, classifier_fashion_mnist.npz).
set -u
cd "$(dirname "$0")/.." || exit 1
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:-$PWD/gpu_out}"; mkdir -p "$OUT"
DATA="${DATA:-.gpu/fashion-mnist}"
W="$OUT/results"; mkdir -p "$W"
T_CGAN="${T_CGAN:-220}" T_GAN="${T_GAN:-140}"
CLS="$OUT/classifier_fashion_mnist.npz"

main() {
    date; nvidia-smi -L; python -c "import numpy, cupy, torch; print('numpy', numpy.__version__, 'cupy', cupy.__version__, 'torch', torch.__version__)"

    # --- chain 1: classifier, then the cGAN scored every epoch ----------------------------------------
    (
        timeout 70 python examples/train_classifier.py --dataset fashion-mnist --data-dir "$DATA" \
            --backend cupy --epochs 5 --out "$CLS" --no-progress > "$W/classifier.log" 2>&1
        echo "classifier exit $?" >> "$W/classifier.log"
        touch "$W/classifier.done"
        EVAL=(); [ -f "$CLS" ] && EVAL=(--classifier "$CLS" --eval-every 1 --eval-n 2000)
        timeout -s TERM --kill-after=30 "$T_CGAN" python examples/cgan_fashion_mnist.py --backend cupy \
            --data-dir "$DATA" --epochs 50 --batch-size 128 --out "$W/cgan" --sample-every 0 --no-progress \
            "${EVAL[@]}" > "$W/cgan.log" 2>&1
        echo "cgan exit $?" >> "$W/cgan.log"
    ) &
    chain1=$!
    # --- chain 2: the plain GAN (waits for the classifier so it can be scored too) -----------------------
    (
        for _ in $(seq 80); do [ -f "$W/classifier.done" ] && break; sleep 1; done
        EVAL=(); [ -f "$CLS" ] && EVAL=(--classifier "$CLS" --eval-every 5 --eval-n 2000)
        timeout -s TERM --kill-after=30 "$T_GAN" python examples/gan_fashion_mnist.py --backend cupy \
            --data-dir "$DATA" --epochs 100 --batch-size 64 --out "$W/gan" --sample-every 0 --no-progress \
            "${EVAL[@]}" > "$W/gan.log" 2>&1
        echo "gan exit $?" >> "$W/gan.log"
    ) &
    chain2=$!

    # --- meanwhile: CuPy tests and the DCGAN smoke run -----------------------------------------------------
    echo "=== pytest -k cupy"; timeout 130 python -m pytest -q -p no:cacheprovider -k cupy -x 2>&1 | tail -25
    echo "=== dcgan fake"; timeout 60 python examples/dcgan_cifar.py --backend cupy --dataset fake --epochs 1 \
        --limit 2048 --out "$W/dcgan_fake" --overwrite --no-progress 2>&1 | tail -3

    wait $chain1 $chain2
    tail -3 "$W/classifier.log" "$W/cgan.log" "$W/gan.log"

    # --- final scores with n = 10,000 generated images ------------------------------------------------------
    for m in cgan gan; do
        python -c "from minigan.evaluation import export_generator as e; e('$W/$m/checkpoint.npz', '$OUT/${m}_G.npz')"
        timeout 60 python examples/evaluate.py --checkpoint "$OUT/${m}_G.npz" --classifier "$CLS" \
            --data-dir "$DATA" --backend cupy --n 10000 --out "$W/${m}_eval.json" 2>&1 | tail -20 &
    done
    wait

    # --- the step benchmark, alone on the GPU ----------------------------------------------------------------
    echo "=== bench"; timeout 80 python benchmarks/bench_dcgan_step.py --framework-pairs minigan:cupy torch:cuda \
        --batch-sizes 128 64 --rounds 2 --iters 10 --timeout 60 --out "$W/bench_gpu.md" 2>&1 | tail -15
    date
}

main 2>&1 | tee "$OUT/gpu_runs.log"
tar -czf "$OUT/results.tar.gz" --exclude='*.npz' -C "$OUT" results && rm -rf "$W"
ls -l "$OUT"
