#!/usr/bin/env bash
# run-fuzzer.sh HARNESS SEED_DIR — runs one libFuzzer harness for FUZZ_SECONDS (default 60)
# from the committed seed corpus; new inputs go to a scratch folder, crashes to $FUZZ_ARTIFACTS.
set -euo pipefail
harness=$1 seeds=$2
secs=${FUZZ_SECONDS:-60}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
artifacts=${FUZZ_ARTIFACTS:-$PWD/fuzz-artifacts}
mkdir -p "$artifacts"
"$harness" -max_total_time="$secs" -timeout=20 -rss_limit_mb=3072 -print_final_stats=1 \
    -artifact_prefix="$artifacts/$(basename "$harness")-" "$scratch" "$seeds" 2>&1 | tail -n 25
