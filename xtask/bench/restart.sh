#!/bin/bash
# Usage: CARGO_TARGET_DIR=... xtask/bench/restart.sh BINARY [BASELINE] (after `cargo xtask bench store` built
# the release `crossmap` and the `history` example). Start time of `crossmap serve` (launch -> accepts a
# connection) on a 1,000,000-row store, as a log (fresh load) and as a checkpoint (after `crossmap compact`
# by the same binary), three times each, alternately. BASELINE is an older `crossmap` (schema version 3 or
# before): it gets a copy of the same log marked version 2 (the log without a checkpoint), which it upgrades.
set -e
R=${CARGO_TARGET_DIR:-target}/release
d=$(mktemp -d /tmp/restart-XXXX)
$R/examples/history $d/this 1000000 1 >/dev/null
if [ -n "$2" ]; then
  cp -r $d/this $d/base
  sqlite3 $d/base/crossmap.sqlite "PRAGMA user_version = 2" >/dev/null
fi
. "$(dirname "$0")/start-time.sh"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$1, 1,000,000 log records: $(measure $1 $d/this)"
[ -n "$2" ] && echo "$2, 1,000,000 log records: $(measure $2 $d/base)"
$1 compact --data-dir $d/this
[ -n "$2" ] && $2 compact --data-dir $d/base
for round in 1 2 3; do
  echo "$1, checkpoint of 1,000,000 rows: $(measure $1 $d/this)"
  [ -n "$2" ] && echo "$2, checkpoint of 1,000,000 rows: $(measure $2 $d/base)"
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf $d
