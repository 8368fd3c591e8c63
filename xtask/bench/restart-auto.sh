#!/bin/bash
# Usage: xtask/bench/restart-auto.sh HISTORY_DIR ROUNDS BINARY [BINARY ...]
# Starts of `crossmap serve` on copies of HISTORY_DIR (written by the `history` example with --auto, e.g.
# `target/release/examples/history DIR 1000000 10 --auto`), each binary in turn, ROUNDS rounds: the first
# start on a fresh copy (which may hold a log a fold cut short when the writer exited) and a second start
# on the same copy. Prints wall time from launch to accepting a connection, CPU time then, and RSS.
set -e
src=$1; rounds=$2; shift 2
. "$(dirname "$0")/start-time.sh"
d=$(mktemp -d /tmp/restart-auto-XXXX)
for round in $(seq 1 "$rounds"); do
  for bin in "$@"; do
    rm -rf "$d/copy"; cp -r "$src" "$d/copy"
    first=$(measure "$bin" "$d/copy")
    second=$(measure "$bin" "$d/copy")
    echo "round $round, $bin: first $first; second $second; load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
rm -rf "$d"
