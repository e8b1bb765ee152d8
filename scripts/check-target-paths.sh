#!/usr/bin/env bash
# make lint: no script, make target, test or benchmark looks for build output under ./target.
# Cargo puts it where CARGO_TARGET_DIR or a cargo config's build.target-dir says (many developers
# share one target directory), so a hard-coded path breaks `make test` and `make up` for them. Ask
# instead: `cargo metadata`'s target_directory (scripts/stack.py, the Makefile's TARGET_DIR),
# CARGO_BIN_EXE_<name> in tests, the running executable's own path in benchmarks.
#
# Flags a path that starts at the directory (`targe[t]/release`, `../targe[t]/lambda`,
# `$(CURDIR)/targe[t]/`) and the bare name joined onto a path (`ROOT / "targe[t]"`, `.join("targe[t]")`).
# This file writes the name as targe[t] so that it does not match itself.
set -uo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(Makefile .ci/run scripts/* tests/stack/*.py tests/*.rs tests/support/*.rs benches/*.rs examples/*.rs
  examples/web/test/*.mjs examples/web/package.json)
grep -nE --directories=skip "(^|[^[:alnum:]_.-])targe[t]/|(/|\() *[\"']targe[t][\"']|\.\./targe[t]\b" "${files[@]}"
case $? in
  0) echo "check-target-paths: a hard-coded path into the default target directory above; ask cargo where its output is" >&2
     exit 1 ;;
  1) ;;
  *) echo "check-target-paths: grep failed" >&2; exit 2 ;;
esac
