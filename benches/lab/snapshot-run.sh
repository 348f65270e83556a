#!/usr/bin/env bash
# snapshot-run.sh — runs the lab benchmark from a private, frozen copy of the repository, so that edits to
# ts/ or crates/ made while it runs (the daemons are started over many minutes) cannot change or break the
# code under test. The copy is `git archive REV` (default HEAD) plus this working tree's benches/lab/ and
# package.json; it gets its own release build of the addon and its own compiled dist/, and shares
# node_modules with the repository (read only). Results are written to the repository's benches/results/.
# Usage: bash benches/lab/snapshot-run.sh [--rev REV] [--keep] [-- run.ts options]
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
rev=HEAD keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --rev) rev="$2"; shift 2 ;;
    --keep) keep=1; shift ;;
    --) shift; break ;;
    *) break ;;
  esac
done
commit="$(git -C "$repo" rev-parse "$rev")"
# a directory of our own (concurrent runs must not share or delete each other's copy); RINGVPN_SNAPSHOT_DIR reuses one kept with --keep
if [ -n "${RINGVPN_SNAPSHOT_DIR:-}" ]; then
  snap="$RINGVPN_SNAPSHOT_DIR"; mkdir -p "$snap"
  if [ ! -f "$snap/.ready" ] && [ -n "$(ls -A "$snap")" ]; then echo "snapshot-run: $snap is not empty and not a snapshot; refusing" >&2; exit 2; fi
else snap="$(mktemp -d "/tmp/ringvpn-benchlab-${commit:0:10}-XXXXXX")"; fi
if [ "$(cat "$snap/.ready" 2>/dev/null)" != "$commit" ]; then
  echo "snapshot-run: copying $commit to $snap" >&2
  find "$snap" -mindepth 1 -delete
  git -C "$repo" archive "$commit" | tar -x -C "$snap"
  ln -s "$repo/node_modules" "$snap/node_modules"
  echo "snapshot-run: building the addon (release, CARGO_TARGET_DIR=$snap/target)" >&2
  (cd "$snap" && CARGO_TARGET_DIR="$snap/target" npx napi build --platform --release --manifest-path bindings/Cargo.toml \
    --package-json-path bindings/package.json --output-dir bindings --js index.js --dts index.d.ts >&2)
  echo "$commit" > "$snap/.ready"
fi
# the benchmark itself may be newer than the commit
rm -rf "$snap/benches/lab"; cp -r "$repo/benches/lab" "$snap/benches/lab"
echo "snapshot-run: compiling the control plane to $snap/dist" >&2
(cd "$snap" && npx tsc -p tsconfig.build.json >&2)
out="$repo/benches/results"
code=0
(cd "$snap" && RINGVPN_BENCH_COMMIT="$commit" node --import tsx benches/lab/run.ts --out "$out" "$@") || code=$?
if [ "$keep" = 0 ]; then rm -rf "$snap"; else echo "snapshot-run: kept $snap (reuse: RINGVPN_SNAPSHOT_DIR=$snap)" >&2; fi
exit $code
