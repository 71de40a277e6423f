# node-wait.sh NODE_ID MANAGER SECONDS: on a manager, wait (at least
# SECONDS, at most one more) until swarm node NODE_ID is ready and, with
# MANAGER = manager, reachable. Prints the last "state reachability" seen.
set +e
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
