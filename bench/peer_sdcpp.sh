#!/bin/bash
# peer_sdcpp.sh — this project and stable-diffusion.cpp side by side on the same FLUX.1 files
# (issue 15, item 3): the same real-width transformer with 2 double + 4 single blocks (random
# weights, Black Forest Labs names) as bf16 safetensors, Q8_0 GGUF and Q4_0 GGUF, the same
# CLIP-L (12 layers), 2-layer T5-XXL and VAE files, the same size, steps, threads and T5
# length (256, what stable-diffusion.cpp uses for FLUX). Nothing of stable-diffusion.cpp or ggml
# is kept in this repository: the script copies their sources into a build folder and builds
# there.
#
#   bench/peer_sdcpp.sh export SD_GITDIR GGML_GITDIR SRC
#       Writes a source tree of stable-diffusion.cpp (HEAD of SD_GITDIR, a bare mirror) into SRC,
#       with its ggml submodule at the pinned commit from GGML_GITDIR (or, when that commit is
#       not there, the newest commit no newer than it, said loudly). Blobs the mirror lacks are
#       left out and listed.
#   bench/peer_sdcpp.sh build SRC BUILD [TOKENIZERS]
#       Copies SRC to BUILD/src, regenerates missing vocabulary headers from TOKENIZERS
#       (default ../shared/flux1_files: tokenizer/merges.txt, tokenizer_2/tokenizer.json; see
#       bench/peer_vocab.py) and builds sd-cli twice, nice'd, in one CMake tree (BUILD/cmake,
#       or $SDCPP_CMAKE_DIR): BUILD/bin/sd-cli-release (the release configuration: CMake
#       defaults, GGML_NATIVE, GGML_LLAMAFILE=OFF) and BUILD/bin/sd-cli-llamafile
#       (-DGGML_LLAMAFILE=ON: ggml's register-tiled tinyBLAS for the matrix products).
#       VARIANTS="llamafile" builds only that one.
#   bench/peer_sdcpp.sh models MODEL_DIR FILES [FLUX1_FILES]
#       MODEL_DIR: a bench/make_model.py folder (--double 2 --single 4 --t5-layers 2; written
#       here with $PYTHON_TORCH, default /work/venv-ref/bin/python, when it does not exist).
#       Writes into FILES: flux_bf16.safetensors (the transformer under BFL names), flux_Q8_0.gguf,
#       flux_Q4_0.gguf (bench/make_gguf.py; MODEL_DIR/../transformer_Q*.gguf is copied when
#       there, as bench/kernels_figures.sh expects them), ae.safetensors (the VAE under the
#       original names) and clip_l.safetensors (CLIP-L, 12 layers) (bench/peer_files.py),
#       t5xxl.safetensors (a link to MODEL_DIR's 2-layer T5). Files already there are kept.
#   bench/peer_sdcpp.sh run OURS_BUILD BUILD FILES [SIZE] [WEIGHTS] [ENGINES]
#       Times whole runs of 1 and 3 steps of each engine on each weight type and prints
#       seconds per step = (t[3 steps] - t[1 step]) / 2, each engine's own per-step figure,
#       CPU seconds (user + system, all threads) per step taken the same way, and the peak RSS
#       (/usr/bin/time -v) side by side. On a shared machine the CPU figure is the steadier
#       one (it still grows with contention: both engines' threads spin while they wait). SIZE default 512; WEIGHTS default
#       "bf16 Q8_0 Q4_0"; ENGINES default "float32 fast release llamafile" (ours with
#       FLUX_PRECISION=float32 and fast; sd.cpp's two builds). Logs go to FILES/logs/.
#   bench/peer_sdcpp.sh report FILES [SIZE] [WEIGHTS] [ENGINES]
#       The table again from FILES/logs/ (runs of several calls of `run` side by side).
#
# Environment: THREADS (default 2), STEPS_LO/STEPS_HI (1, 3), PY (/usr/bin/python3, numpy).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
PY=${PY:-/usr/bin/python3}
THREADS=${THREADS:-2}
STEPS_LO=${STEPS_LO:-1}
STEPS_HI=${STEPS_HI:-3}
T5_LEN=256
PROMPT="a lighthouse on a cliff at dusk"

die() {
    echo "peer_sdcpp: $*" >&2
    exit 1
}

# export_tree GITDIR REV DEST: the tree of REV into DEST without a work tree of the mirror and
# without writing into it (a private index file), skipping blobs the mirror does not hold.
export_tree() {
    local git_dir=$1 rev=$2 dest=$3 idx missing
    idx=$(mktemp)
    mkdir -p "$dest"
    GIT_INDEX_FILE=$idx git --git-dir="$git_dir" --work-tree="$dest" read-tree "$rev"
    missing=$(git --git-dir="$git_dir" ls-tree -r "$rev" |
        awk -F'\t' '{ split($1, m, " "); if (m[2] == "blob") print m[3] "\t" $2 }' |
        while IFS=$'\t' read -r sha path; do
            git --git-dir="$git_dir" cat-file -e "$sha" 2>/dev/null || printf '%s\n' "$path"
        done)
    if [ -n "$missing" ]; then
        echo "peer_sdcpp: not in the mirror, left out of $dest:"
        # shellcheck disable=SC2086  # paths of the snapshot have no spaces
        printf '    %s\n' $missing
        # shellcheck disable=SC2086
        GIT_INDEX_FILE=$idx git --git-dir="$git_dir" --work-tree="$dest" \
            update-index --force-remove $missing
    fi
    GIT_INDEX_FILE=$idx git --git-dir="$git_dir" --work-tree="$dest" checkout-index -a -f
    rm -f "$idx"
}

cmd_export() {
    local sd_git=$1 ggml_git=$2 src=$3 pin date found
    [ -e "$src" ] && die "$src exists: give a new folder"
    export_tree "$sd_git" HEAD "$src"
    echo "stable-diffusion.cpp $(git --git-dir="$sd_git" log -1 --format='%H %cd')" |
        tee "$src/PEER_VERSIONS"
    pin=$(git --git-dir="$sd_git" ls-tree HEAD ggml | awk '{ print $3 }')
    [ -n "$pin" ] || die "no ggml submodule entry in $sd_git HEAD"
    if git --git-dir="$ggml_git" cat-file -e "$pin^{commit}" 2>/dev/null; then
        found=$pin
        echo "ggml $pin (the pinned submodule commit)" | tee -a "$src/PEER_VERSIONS"
    else
        date=$(git --git-dir="$sd_git" log -1 --format=%cI HEAD)
        found=$(git --git-dir="$ggml_git" rev-list -1 --before="$date" --all)
        echo "ggml $found: WARNING the pinned commit $pin is not in $ggml_git; this is the" \
            "newest commit before $date" | tee -a "$src/PEER_VERSIONS"
    fi
    rm -rf "$src/ggml"
    export_tree "$ggml_git" "$found" "$src/ggml"
}

cmd_build() {
    local src=$1 build=$2 tok=${3:-$here/../../shared/flux1_files} variant
    local obj=${SDCPP_CMAKE_DIR:-$build/cmake}
    if [ ! -f "$src/CMakeLists.txt" ] || [ ! -f "$src/ggml/CMakeLists.txt" ]; then
        die "$src is not a stable-diffusion.cpp tree with ggml/ (see: $0 export)"
    fi
    grep -q 'option(GGML_LLAMAFILE' "$src/ggml/CMakeLists.txt" ||
        die "$src/ggml has no GGML_LLAMAFILE option: look for the tinyBLAS switch of this ggml"
    mkdir -p "$build"
    if [ ! -f "$build/src/.peer-copied" ]; then
        rm -rf "$build/src"
        cp -a "$src" "$build/src"
        "$PY" "$here/peer_vocab.py" "$build/src/src/tokenizers/vocab" "$tok"
        touch "$build/src/.peer-copied"
    fi
    # One CMake tree for both: GGML_LLAMAFILE only changes ggml-cpu's sources and defines,
    # so the second configuration recompiles ggml-cpu and relinks (sd-cli links statically).
    for variant in ${VARIANTS:-release llamafile}; do
        nice cmake -S "$build/src" -B "$obj" -G Ninja -DCMAKE_BUILD_TYPE=Release \
            -DSD_WEBP=OFF -DSD_WEBM=OFF -DSD_SERVER_BUILD_FRONTEND=OFF \
            -DGGML_LLAMAFILE="$([ "$variant" = llamafile ] && echo ON || echo OFF)" \
            >"$build/$variant.cmake.log"
        nice ninja -C "$obj" -j "$(nproc)" sd-cli
        mkdir -p "$build/bin"
        cp "$obj/bin/sd-cli" "$build/bin/sd-cli-$variant"
        grep -E '^GGML_(NATIVE|LLAMAFILE|AVX512|AMX|AVX_VNNI)[A-Z0-9_]*:' "$obj/CMakeCache.txt" |
            tr '\n' ' ' >"$build/$variant.options"
        echo "peer_sdcpp: $build/bin/sd-cli-$variant ($(cat "$build/$variant.options"))"
    done
}

cmd_models() {
    local model=$1 files=$2 tok=${3:-$here/../../shared/flux1_files} q
    if [ ! -d "$model/transformer" ]; then
        "${PYTHON_TORCH:-/work/venv-ref/bin/python}" "$here/make_model.py" --out "$model" \
            --double 2 --single 4 --t5-layers 2
    fi
    mkdir -p "$files"
    if [ ! -f "$files/flux_bf16.safetensors" ] || [ ! -f "$files/ae.safetensors" ] ||
        [ ! -f "$files/clip_l.safetensors" ]; then
        "$PY" "$here/peer_files.py" "$model" "$files"
    fi
    for q in Q8_0 Q4_0; do
        [ -f "$files/flux_$q.gguf" ] && continue
        if [ -f "$model/../transformer_$q.gguf" ]; then
            # bench/kernels_figures.sh's place for make_gguf.py's output of the same folder
            echo "peer_sdcpp: flux_$q.gguf copied from $model/../transformer_$q.gguf"
            cp "$model/../transformer_$q.gguf" "$files/flux_$q.gguf"
        else
            "$PY" "$here/make_gguf.py" "$model" "$files" "$q"
            mv "$files/transformer_$q.gguf" "$files/flux_$q.gguf"
        fi
    done
    model=$(cd "$model" && pwd)
    ln -sf "$model/text_encoder_2/model.safetensors" "$files/t5xxl.safetensors"
    # This project reads the VAE from a folder (its configs, the same VAE values under the
    # diffusers names): main's single-file path refuses an ae.safetensors that has an
    # encoder, its built-in VAE config lacking "use_quant_conv": false.
    mkdir -p "$files/ours/vae" "$files/ours/transformer" "$files/ours/text_encoder" \
        "$files/ours/text_encoder_2"
    cp "$model/model_index.json" "$files/ours/"
    cp -r "$model/scheduler" "$model/tokenizer" "$model/tokenizer_2" "$files/ours/"
    for c in transformer text_encoder_2 vae; do cp "$model/$c/config.json" "$files/ours/$c/"; done
    cp "$tok/FLUX.1-dev/text_encoder/config.json" "$files/ours/text_encoder/" # 12 layers
    chmod -R u+w "$files/ours"
    ln -sf "$model/vae/diffusion_pytorch_model.safetensors" "$files/ours/vae/"
    ls -lL "$files"
}

# one_run ENGINE WEIGHTS SIZE STEPS LOG: one whole generation under /usr/bin/time -v.
one_run() {
    local engine=$1 weights=$2 size=$3 steps=$4 log=$5 dit
    case $weights in
    bf16) dit=$files/flux_bf16.safetensors ;;
    *) dit=$files/flux_$weights.gguf ;;
    esac
    case $engine in
    float32 | fast)
        FLUX_PRECISION=$engine FLUX_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS \
            /usr/bin/time -v "$ours/cli/flux-generate" -m "$files/ours" --transformer "$dit" \
            --clip-l "$files/clip_l.safetensors" --t5 "$files/t5xxl.safetensors" \
            -W "$size" -H "$size" --steps "$steps" --guidance 3.5 --seed 1 \
            --max-sequence-length "$T5_LEN" -p "$PROMPT" -o "$files/out/$engine-$weights.png" \
            >"$log" 2>&1
        ;;
    release | llamafile)
        /usr/bin/time -v "$build/bin/sd-cli-$engine" --diffusion-model "$dit" \
            --clip_l "$files/clip_l.safetensors" --t5xxl "$files/t5xxl.safetensors" \
            --vae "$files/ae.safetensors" -t "$THREADS" -W "$size" -H "$size" \
            --steps "$steps" --cfg-scale 1.0 --guidance 3.5 --sampling-method euler \
            --seed 1 -p "$PROMPT" -o "$files/out/$engine-$weights.png" -v >"$log" 2>&1
        ;;
    *) die "engine $engine: float32, fast, release or llamafile" ;;
    esac
}

wall_s() { # /usr/bin/time -v's "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:02.35"
    awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
        for (i = 1; i <= n; i++) s = s * 60 + p[i]; print s }' "$1"
}
cpu_s() { # user + system seconds of all threads
    awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.1f", s }' "$1"
}
rss_gib() { awk '/Maximum resident set size/ { printf "%.2f", $NF / 1048576 }' "$1"; }
# each engine's own figure for the 3-step run: ours prints "step N/M  X s/step" (the mean so
# far); sd.cpp prints "sampling completed, taking X s"
own_s() {
    case $1 in
    float32 | fast) grep -o '[0-9.]* s/step' "$2" | tail -1 | cut -d' ' -f1 ;;
    *) sed -n 's/.*sampling completed, taking \([0-9.]*\)s.*/\1/p' "$2" | tail -1 |
        awk -v n="$STEPS_HI" '{ printf "%.2f", $1 / n }' ;;
    esac
}

# log_of ENGINE WEIGHTS SIZE STEPS: where cmd_run keeps that run's output
log_of() { echo "$files/logs/$1-$2-$3-s$4.log"; }

# per_step A B: (B - A) / (STEPS_HI - STEPS_LO)
per_step() {
    awk -v a="$1" -v b="$2" -v n=$((STEPS_HI - STEPS_LO)) 'BEGIN { printf "%.2f", (b - a) / n }'
}

cmd_run() {
    ours=$1 build=$2 files=$3
    local size=${4:-512} weights_list=${5:-bf16 Q8_0 Q4_0}
    local engines=${6:-float32 fast release llamafile} engine weights lo hi
    mkdir -p "$files/logs" "$files/out"
    echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-), $(nproc) cores; threads $THREADS"
    echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
    for weights in $weights_list; do
        for engine in $engines; do
            lo=$(log_of "$engine" "$weights" "$size" "$STEPS_LO")
            hi=$(log_of "$engine" "$weights" "$size" "$STEPS_HI")
            if ! one_run "$engine" "$weights" "$size" "$STEPS_LO" "$lo" ||
                ! one_run "$engine" "$weights" "$size" "$STEPS_HI" "$hi"; then
                echo "peer_sdcpp: $engine $weights failed, see $lo / $hi" >&2
            fi
            cut -d' ' -f1-3 /proc/loadavg >"$hi.load"
            echo "$weights $engine: done, load average $(cat "$hi.load")"
        done
    done
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
    cmd_report "$files" "$size" "$weights_list" "$engines"
}

# cmd_report FILES SIZE WEIGHTS ENGINES: the table from the logs of cmd_run.
cmd_report() {
    files=$1
    local size=${2:-512} weights_list=${3:-bf16 Q8_0 Q4_0}
    local engines=${4:-float32 fast release llamafile} engine weights lo hi
    echo "size ${size}x$size, T5 length $T5_LEN, threads $THREADS, steps $STEPS_LO and $STEPS_HI"
    echo "| weights | engine | s/step (t[$STEPS_HI] - t[$STEPS_LO]) / $((STEPS_HI - STEPS_LO)) | own s/step | CPU s/step | t[$STEPS_LO] s | t[$STEPS_HI] s | peak RSS GiB | load avg (1, 5, 15 min) after |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for weights in $weights_list; do
        for engine in $engines; do
            lo=$(log_of "$engine" "$weights" "$size" "$STEPS_LO")
            hi=$(log_of "$engine" "$weights" "$size" "$STEPS_HI")
            if ! grep -qs 'Exit status: 0' "$lo" || ! grep -qs 'Exit status: 0' "$hi"; then
                echo "| $weights | $engine | failed or not run: $lo, $hi | | | | | | |"
                continue
            fi
            echo "| $weights | $engine | $(per_step "$(wall_s "$lo")" "$(wall_s "$hi")") |" \
                "$(own_s "$engine" "$hi") | $(per_step "$(cpu_s "$lo")" "$(cpu_s "$hi")") |" \
                "$(wall_s "$lo") | $(wall_s "$hi") | $(rss_gib "$hi") | $(cat "$hi.load" 2>/dev/null) |"
        done
    done
}

case ${1:-} in
export) [ $# -eq 4 ] || die "usage: $0 export SD_GITDIR GGML_GITDIR SRC"; cmd_export "$2" "$3" "$4" ;;
build) [ $# -ge 3 ] || die "usage: $0 build SRC BUILD [TOKENIZERS]"; cmd_build "${@:2}" ;;
models) [ $# -ge 3 ] || die "usage: $0 models MODEL_DIR FILES [FLUX1_FILES]"; cmd_models "${@:2}" ;;
report) [ $# -ge 2 ] || die "usage: $0 report FILES [SIZE] [WEIGHTS] [ENGINES]"; cmd_report "${@:2}" ;;
run) [ $# -ge 4 ] || die "usage: $0 run OURS_BUILD BUILD FILES [SIZE] [WEIGHTS] [ENGINES]"
    cmd_run "${@:2}" ;;
*) sed -n '2,/^set -euo/p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
