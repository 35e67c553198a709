#!/usr/bin/env bash
# run-fuzzer.sh HARNESS SEED_DIR — runs one libFuzzer harness for FUZZ_SECONDS (default 60)
# from the committed seed corpus; new inputs go to a scratch folder, crashes to $FUZZ_ARTIFACTS.
# The random seed is fixed (FUZZ_SEED, default 1) so that CI replays the same mutation sequence
# each run and a pass or failure is reproducible; exploration with fresh seeds is done in long
# campaigns outside CI (FUZZ_SEED=0 picks a random one; see docs/ROBUSTNESS.md).
set -euo pipefail
harness=$1 seeds=$2
secs=${FUZZ_SECONDS:-60}
seed=${FUZZ_SEED:-1}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
artifacts=${FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}
mkdir -p "$artifacts"
"$harness" -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 -seed="$seed" \
    -artifact_prefix="$artifacts/$(basename "$harness")-" "$scratch" "$seeds" 2>&1 | tail -n 25
