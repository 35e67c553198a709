#!/bin/sh
# kernels_figures.sh — the figures of docs/PERFORMANCE.md "CPU kernels and precision (issue 15)"
# in one run: the CPU and its measured peaks, the bf16 GEMM against tiles + sgemm and the int8
# GEMM per path against the bf16 GEMM at the transformer's shapes, and one transformer step per
# weight type in float32 and fast.
#
#   bench/kernels_figures.sh BUILD_DIR MODEL_DIR [SIZES] [REPEAT]
#
# MODEL_DIR: a bench/make_model.py folder (e.g. --double 2 --single 4 --t5-layers 2
# --clip-layers 2); its transformer as GGUF in MODEL_DIR/../transformer_Q8_0.gguf and
# transformer_Q4_0.gguf (bench/make_gguf.py MODEL_DIR MODEL_DIR/.. Q8_0 Q4_0) is used when
# present. SIZES: image sizes of the step (default 512); REPEAT: runs per step, the best kept
# (default 2).
set -eu
build=$1
model=$2
sizes=${3:-512}
repeat=${4:-2}
bench="$build/bench/flux-bench"
uptime
"$bench" --peak
"$bench" --bf16-table 1024,4608
"$bench" --int8-table 1280,4608 Q8_0,Q4_0,Q4_K,Q5_K,Q6_K
for weights in bf16 Q8_0 Q4_0; do
    file=
    if [ "$weights" != bf16 ]; then
        file="$model/../transformer_$weights.gguf"
        [ -f "$file" ] || { echo "($file missing: $weights skipped)"; continue; }
    fi
    for precision in float32 fast; do
        echo "== $weights weights, precision $precision"
        FLUX_PRECISION=$precision "$bench" "$model" --sizes "$sizes" --skip t5,clip,vae \
            --repeat "$repeat" ${file:+--transformer "$file"} |
            grep -E 'transformer step|of the measured|CPU time|CPU-second|per block|peak anon'
    done
done
uptime
