# drain-wait.sh NODE_ID SECONDS: on a manager, wait (at least SECONDS, at
# most one more) until no task on swarm node NODE_ID is still running: a
# drain only asks the tasks to stop. Prints how many still run, or
# "error <message>".
set +e
id=$1; end=$(( $(date +%s) + $2 + 1 ))
while :; do
  if ! out=$(docker node ps --format '{{.CurrentState}}' "$id" 2>&1); then printf 'error %s\n' "$(printf '%s\n' "$out" | head -n 1)"; exit 0; fi
  n=$(printf '%s\n' "$out" | grep -c '^Running')
  [ "$n" -eq 0 ] && break
  [ "$(date +%s)" -ge "$end" ] && break
  sleep 0.5 2>/dev/null || sleep 1
done
echo "$n"
