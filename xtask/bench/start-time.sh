# Sourced by the restart scripts: `measure BINARY DIR [PORT]` starts `crossmap serve` on DIR and prints the
# wall time from launch until it accepts a connection, its CPU time then, and its RSS; then stops it.
measure() {
  local port=${3:-18495}
  local start end pid cpu rss
  start=$(date +%s.%N)
  $1 serve --addr 127.0.0.1:$port --compact-after 0 --app b:s:manage --data-dir $2 >/dev/null 2>&1 &
  pid=$!
  until (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null; do sleep 0.005; done
  end=$(date +%s.%N)
  cpu=$(awk '{print ($14 + $15) / 100}' /proc/$pid/stat)
  rss=$(awk '/VmRSS/{print int($2/1024)}' /proc/$pid/status)
  kill $pid; wait $pid 2>/dev/null || true
  printf "%.2f s wall, %s s CPU, %s MiB" "$(echo "$end - $start" | bc)" "$cpu" "$rss"
}
