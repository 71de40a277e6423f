# reload-events.sh PID: on a node, the daemon `reload` events dockerd still
# holds, and when dockerd (PID: the unit's MainPID, 0 when not known)
# started. dockerd keeps its events in memory only, the last 256 of every
# kind, from its start: a restart forgets every earlier reload. Each reload
# event's attributes carry the registry-mirrors it loaded. Sections (see
# nodes.Sections):
#   @@now      the node's clock, UTC seconds (the query's --until)
#   @@started  dockerd's start, UTC seconds ("" when not known)
#   @@rc       docker events' exit status (124: it did not answer in time)
#   @@events   the reload events, one JSON object a line, or the error's
#              last lines when rc is not 0
#   @@held     how many events dockerd holds and the oldest one's time in
#              nanoseconds (when rc is 0)
set +e
LC_ALL=C; export LC_ALL
pid=$1
case $pid in ''|*[!0-9]*) pid=0 ;; esac
now=$(date -u +%s)
echo "@@now"
echo "$now"
echo "@@started"
if [ "$pid" -gt 0 ] && [ -r "/proc/$pid/stat" ]; then
  # Field 22 of /proc/PID/stat (after the parenthesised command name):
  # clock ticks from boot to the process's start.
  ticks=$(sed 's/.*) //' "/proc/$pid/stat" | awk '{print $20}')
  boot=$(awk '$1 == "btime" {print $2}' /proc/stat)
  hz=$(getconf CLK_TCK 2>/dev/null)
  case $hz in ''|*[!0-9]*|0) hz=100 ;; esac
  case "$ticks$boot" in
    ''|*[!0-9]*) ;;
    *) [ -n "$ticks" ] && [ -n "$boot" ] && echo $((boot + ticks / hz)) ;;
  esac
fi
out=$(timeout 20 docker events --since 1 --until "$now" --filter type=daemon --filter event=reload --format '{{json .}}' 2>&1)
rc=$?
echo "@@rc"
echo "$rc"
echo "@@events"
if [ "$rc" -eq 0 ]; then
  printf '%s\n' "$out" | tail -n 20
else
  printf '%s\n' "$out" | tail -n 3
fi
echo "@@held"
if [ "$rc" -eq 0 ]; then
  timeout 20 docker events --since 1 --until "$now" --format '{{.TimeNano}}' 2>/dev/null |
    awk 'NR == 1 {first = $1} END {print NR, first}'
fi
echo "@@end"
