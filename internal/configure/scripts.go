package configure

// Remote shell programs. Each is a constant run as `sh -c SCRIPT sh ARGS...`
// with every user-supplied value passed as a quoted positional argument.
// They need only a POSIX shell, coreutils, systemd and docker, and each
// does its whole job (including waiting) in one round trip.

// backupScript copies $1 to $1.swarmctl-$2.bak (same directory, mode and
// owner; a symlink's target is copied) and keeps the newest $3 backups.
// Prints the backup's path, or "missing" when $1 does not exist. It runs
// under the node's configure lock, so temp files of an atomic write
// (.NAME.swarmctl-*) next to the file can only be left over from a run
// whose connection dropped mid-upload: they are removed.
const backupScript = `set -e
f=$1; ts=$2; keep=$3
t=$(readlink -f -- "$f" 2>/dev/null) || t=$f; [ -n "$t" ] || t=$f
rm -f -- "$(dirname -- "$t")/.$(basename -- "$t")".swarmctl-*
if [ ! -e "$f" ]; then mkdir -p -- "$(dirname -- "$f")"; echo missing; exit 0; fi
b="$f.swarmctl-$ts.bak"
cp -p -- "$f" "$b"
ls -1d -- "$f".swarmctl-*.bak 2>/dev/null | sort -r | tail -n +"$((keep + 1))" | while IFS= read -r old; do
  rm -f -- "$old"
done
echo "$b"
`

// verifyScript waits (at least $5 seconds, at most one more) until $1.service is active,
// `docker info` answers with mirrors $2 and experimental $3 ("" = any; a
// wanted [] also accepts null) and, with $4 = swarm, the node's local swarm
// state is active again. Prints one line:
// is-active|MainPID|mirrors JSON|experimental|swarm state.
const verifyScript = `set +e
LC_ALL=C; export LC_ALL
svc=$1; wm=$2; we=$3; swarm=$4; end=$(( $(date +%s) + $5 + 1 ))
while :; do
  st=$(systemctl is-active "$svc.service" 2>/dev/null)
  pid=$(systemctl show -p MainPID "$svc.service" 2>/dev/null | sed -n 's/^MainPID=//p')
  info=$(docker info --format '{{json .RegistryConfig.Mirrors}}|{{json .ExperimentalBuild}}|{{.Swarm.LocalNodeState}}' 2>/dev/null | head -n 1)
  m=${info%%|*}; r=${info#*|}; e=${r%%|*}; s=${r#*|}
  ok=1
  [ "$st" = active ] && [ -n "$info" ] || ok=0
  if [ -n "$wm" ] && [ "$m" != "$wm" ]; then
    [ "$wm" = "[]" ] && [ "$m" = null ] || ok=0
  fi
  [ -z "$we" ] || [ "$e" = "$we" ] || ok=0
  [ "$swarm" != swarm ] || [ "$s" = active ] || ok=0
  [ "$ok" = 1 ] && break
  [ "$(date +%s)" -ge "$end" ] && break
  sleep 0.3 2>/dev/null || sleep 1
done
echo "$st|$pid|$info"
`

// nodeWaitScript waits (at least $3 seconds, at most one more), on a manager, until swarm node
// $1 is ready and, with $2 = manager, reachable. Prints the last
// "state reachability" seen.
const nodeWaitScript = `set +e
id=$1; mgr=$2; end=$(( $(date +%s) + $3 + 1 ))
while :; do
  s=$(docker node inspect --format '{{.Status.State}} {{if .ManagerStatus}}{{.ManagerStatus.Reachability}}{{end}}' "$id" 2>&1 | head -n 1)
  case "$s" in
  "ready reachable") break ;;
  "ready "*) [ "$mgr" = manager ] || break ;;
  esac
  [ "$(date +%s)" -ge "$end" ] && break
  sleep 0.5 2>/dev/null || sleep 1
done
echo "$s"
`

// drainWaitScript waits (at least $2 seconds, at most one more), on a
// manager, until no task on swarm node $1 is still running: a drain only
// asks the tasks to stop. Prints how many still run, or "error <message>".
const drainWaitScript = `set +e
id=$1; end=$(( $(date +%s) + $2 + 1 ))
while :; do
  out=$(docker node ps --format '{{.CurrentState}}' "$id" 2>&1)
  if [ $? -ne 0 ]; then printf 'error %s\n' "$(printf '%s\n' "$out" | head -n 1)"; exit 0; fi
  n=$(printf '%s\n' "$out" | grep -c '^Running')
  [ "$n" -eq 0 ] && break
  [ "$(date +%s)" -ge "$end" ] && break
  sleep 0.5 2>/dev/null || sleep 1
done
echo "$n"
`

// removeScript deletes $1 (rollback of a file that did not exist).
const removeScript = `rm -f -- "$1"`
