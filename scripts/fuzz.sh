#!/usr/bin/env bash
# A timed libFuzzer run of every harness in tests/fuzz/, one after another (one process at a time).
#   scripts/fuzz.sh [SECONDS] [--merge] [NAME...]
#     SECONDS  per harness (default 60)
#     NAME     only these harnesses (fuzz_NAME.c; default: every one)
#     --merge  afterwards, add the inputs that found new coverage to the committed corpus
#              (tests/fuzz/corpus/<name>/, libFuzzer's -merge=1: only inputs that add coverage). Without it the
#              committed corpus is never written: each harness fuzzes a copy of it.
# Builds build-fuzz/ with clang (installed from Debian if missing), -DLLMGW_FUZZ=ON and ASan+UBSan
# (-DLLMGW_SANITIZE=ON), so a crash, a leak, undefined behaviour, a timeout (10 s per input) or running out of
# memory (2 GB) is a finding. Prints a table: harness, seconds, executions, exec/s, coverage (cov: edges and
# ft: features from libFuzzer's last status line), findings with their artifact paths (in
# build-fuzz/fuzz-run/<name>/). Exits 1 on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=60 merge=0 only=()
for a in "$@"; do
  case "$a" in
    --merge) merge=1 ;;
    ''|*[!0-9a-z_]*) echo "usage: scripts/fuzz.sh [SECONDS] [--merge] [NAME...]" >&2; exit 2 ;;
    *[!0-9]*)
      [ -f "tests/fuzz/fuzz_$a.c" ] || { echo "fuzz: no harness tests/fuzz/fuzz_$a.c" >&2; exit 2; }
      only+=("$a") ;;
    *) secs=$a ;;
  esac
done

# clang, and its sanitizer and libFuzzer runtimes (a separate package, only recommended by clang).
missing=()
for p in clang libclang-rt-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]} (Debian)" >&2
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
bash scripts/install-deps.sh >/dev/null

mapfile -t names < <(ls tests/fuzz/fuzz_*.c | sed 's|.*/fuzz_\(.*\)\.c|\1|')
[ ${#only[@]} -eq 0 ] || names=("${only[@]}")
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DLLMGW_FUZZ=ON -DLLMGW_SANITIZE=ON >/dev/null
cmake --build build-fuzz -j2 --target "${names[@]/#/fuzz_}" >/dev/null

run=build-fuzz/fuzz-run
rm -rf "$run"
mkdir -p "$run"
rows=() found=0
for n in "${names[@]}"; do
  d=$run/$n
  mkdir -p "$d/corpus" "$d/artifacts"
  cp tests/fuzz/corpus/"$n"/* "$d/corpus/"
  echo "fuzz: $n for $secs s" >&2
  start=$(date +%s.%N)
  rc=0
  # -print_final_stats: the executed-units line; -timeout and -rss_limit_mb make a hang or a blow-up a finding.
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "build-fuzz/fuzz_$n" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$d/artifacts/" "$d/corpus" >"$d/fuzz.log" 2>&1 || rc=$?
  took=$(python3 -c "import time; print(f'{time.time() - $start:.0f}')")
  execs=$(awk '/^stat::number_of_executed_units:/{print $2}' "$d/fuzz.log")
  rate=$(awk '/^stat::average_exec_per_sec:/{print $2}' "$d/fuzz.log")
  cov=$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$d/fuzz.log" | tail -n 1 || true)
  arts=$(ls "$d/artifacts" 2>/dev/null | sed "s|^|$d/artifacts/|" | paste -sd ' ' - || true)
  if [ -n "$arts" ]; then
    finding=$arts
    found=1
  elif [ "$rc" -ne 0 ]; then
    finding="exit $rc without an artifact: see $d/fuzz.log"
    found=1
  else
    finding=none
  fi
  rows+=("| $n | $took | ${execs:-?} | ${rate:-?} | ${cov:-?} | $finding |")
  if [ "$merge" = 1 ] && [ -z "$arts" ]; then
    "build-fuzz/fuzz_$n" -merge=1 "tests/fuzz/corpus/$n" "$d/corpus" >"$d/merge.log" 2>&1
    echo "fuzz: $n: merged, corpus now $(ls "tests/fuzz/corpus/$n" | wc -l) files" >&2
  fi
done

echo "fuzz: $(date -u +%FT%TZ), $secs s per harness, $(clang --version | head -n 1), $(nproc) cores"
echo "| harness | seconds | executions | exec/s | coverage | findings |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
exit "$found"
