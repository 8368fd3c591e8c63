#!/bin/bash
# Usage: CARGO_TARGET_DIR=... xtask/bench/restart.sh BINARY [BINARY...] (after `cargo xtask bench store` built
# the release `crossmap` and the `history` example). Start time of `crossmap serve` (launch -> accepts a connection) on a 1,000,000-row store, as a log
# (fresh load) and as a checkpoint (after `crossmap compact`), for each binary given.
set -e
R=${CARGO_TARGET_DIR:-target}/release
d=$(mktemp -d /tmp/restart-XXXX)
$R/examples/history $d 1000000 1 >/dev/null
measure() { # BINARY DIR
  port=18495
  start=$(date +%s.%N)
  $1 serve --addr 127.0.0.1:$port --compact-after 0 --app b:s:manage --data-dir $2 >/dev/null 2>&1 &
  pid=$!
  until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.005; done
  end=$(date +%s.%N)
  cpu=$(awk '{print ($14 + $15) / 100}' /proc/$pid/stat)
  kill $pid; wait $pid 2>/dev/null || true
  echo "$(echo "$end - $start" | bc) s wall, $cpu s CPU"
}
for bin in "$@"; do echo "$bin, 1,000,000 log records: $(measure $bin $d)"; done
$R/crossmap compact --data-dir $d
for round in 1 2 3; do
  for bin in "$@"; do echo "$bin, checkpoint of 1,000,000 rows: $(measure $bin $d)"; done
done
rm -rf $d
