#!/usr/bin/env bash
# Runs one coverage-guided fuzz target of the binary reader (native/fuzz/) for SECONDS, as one
# job at the lowest priority. Needs the nightly toolchain and cargo-fuzz:
#   rustup toolchain install nightly && cargo install cargo-fuzz
# The working corpus (native/fuzz/corpus/TARGET) grows from the committed seeds and is kept
# between runs; findings land in native/fuzz/artifacts/TARGET/. Re-run one with
#   cargo +nightly fuzz run TARGET native/fuzz/artifacts/TARGET/crash-…   (from native/fuzz)
set -euo pipefail

targets="open_verify lookup record decode"
if [ $# -ne 2 ] || ! [[ " $targets " == *" $1 "* ]] || ! [[ $2 =~ ^[0-9]+$ ]]; then
  echo "usage: scripts/fuzz.sh TARGET SECONDS   (TARGET: ${targets// /, })" >&2
  exit 2
fi
target=$1
seconds=$2
cd "$(dirname "$0")/../native/fuzz"

# The decode target reads one record's bytes, the others whole files.
seeds=seeds/dvd
[ "$target" = decode ] && seeds=seeds/record
mkdir -p "corpus/$target" "artifacts/$target"

# -jobs=1 -workers=1 runs one fuzzing process whose output goes to fuzz-0.log; it is shown at the end.
rm -f fuzz-0.log
status=0
nice -n 19 cargo +nightly fuzz run "$target" "corpus/$target" "$seeds" -- \
  -max_total_time="$seconds" -jobs=1 -workers=1 -max_len=262144 -timeout=10 -rss_limit_mb=1024 \
  -print_final_stats=1 || status=$?
if [ -f fuzz-0.log ]; then
  grep -E '^#[0-9]+' fuzz-0.log | tail -n 1
  sed -n '/^stat::/p; /ERROR: libFuzzer/,$p' fuzz-0.log
  grep -qE 'ERROR: (libFuzzer|AddressSanitizer)|panicked at' fuzz-0.log && status=1
fi
exit "$status"
