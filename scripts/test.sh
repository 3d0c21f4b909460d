#!/usr/bin/env bash
# Installs what is needed, builds, and runs every test cloudlet has:
#   1. unit + end-to-end tests (ctest) on the optimized build,
#   2. the same suite again under AddressSanitizer + UndefinedBehaviorSanitizer,
#   3. a short libFuzzer run of every fuzz target (clang),
#   4. clang-format and clang-tidy over the tree.
# End-to-end tests need root (network namespaces); without root they are reported as skipped, with the reason.
# Usage: scripts/test.sh [--quick]   (--quick: step 1 only)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[[ "${1:-}" == "--quick" ]] && quick=1

scripts/install-deps.sh
jobs=$(nproc)
summary=()
run_ctest() {  # BUILD_DIR LABEL
  local dir=$1 label=$2 rc=0
  (cd "$dir" && ctest --output-on-failure --timeout 600 --output-junit junit.xml) || rc=$?
  summary+=("$(python3 - "$dir/junit.xml" "$label" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
p = f = s = 0
for tc in root.iter('testcase'):
    st = tc.get('status', 'run')
    if tc.find('failure') is not None or st == 'fail': f += 1
    elif st in ('notrun', 'disabled') or tc.find('skipped') is not None: s += 1
    else: p += 1
print(f"{p} {f} {s} {sys.argv[2]}")
PY
)")
  return $rc
}

failed=0
echo "== build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLOUDLET_TESTS=ON -DCLOUDLET_BENCH=ON >/dev/null
ninja -C build -j "$jobs"
echo "== tests"
run_ctest build optimized || failed=1

if [[ $quick -eq 0 ]]; then
  echo "== build (ASan + UBSan)"
  cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCLOUDLET_SANITIZE=address,undefined -DCLOUDLET_TESTS=ON \
    -DCLOUDLET_BENCH=OFF >/dev/null
  ninja -C build-asan -j "$jobs"
  echo "== tests under ASan + UBSan"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 run_ctest build-asan sanitized || failed=1

  echo "== fuzz smoke (libFuzzer, 20 s per target)"
  CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCLOUDLET_FUZZ=ON \
    -DCLOUDLET_TESTS=OFF -DCLOUDLET_BENCH=OFF >/dev/null
  ninja -C build-fuzz -j "$jobs"
  fuzz_pass=0 fuzz_fail=0
  for f in build-fuzz/*_fuzz; do
    name=$(basename "$f")
    corpus=tests/fuzz/corpus/${name%_fuzz}
    mkdir -p "build-fuzz/corpus-$name"
    if "$f" -max_total_time=20 -rss_limit_mb=2048 "build-fuzz/corpus-$name" $( [[ -d $corpus ]] && echo "$corpus" ) \
        >"build-fuzz/$name.log" 2>&1; then
      fuzz_pass=$((fuzz_pass + 1)); echo "fuzz $name: clean"
    else
      fuzz_fail=$((fuzz_fail + 1)); failed=1; echo "fuzz $name: FAILED"; tail -40 "build-fuzz/$name.log"
    fi
  done
  summary+=("$fuzz_pass $fuzz_fail 0 fuzz")

  echo "== lint"
  if scripts/lint.sh build; then summary+=("1 0 0 lint"); else summary+=("0 1 0 lint"); failed=1; fi
fi

P=0 F=0 S=0
for line in "${summary[@]}"; do
  read -r p f s label <<<"$line"
  echo "  $label: $p passed, $f failed, $s skipped"
  P=$((P + p)); F=$((F + f)); S=$((S + s))
done
echo "tests: $P passed, $F failed, $S skipped"
exit $failed
