# registry-log.sh SERVICE SINCE PATTERN: on a manager, the registry
# service's request log since SINCE (unix seconds), only the lines holding
# PATTERN (the probe's digest), and the nodes its running tasks are on.
# Sections: @@tasks (node hostnames), @@rc (docker service logs' exit
# status), @@error (its last lines when it failed), @@log (timestamped lines).
set +e
svc=$1; since=$2; pat=$3
echo "@@tasks"
docker service ps "$svc" --filter desired-state=running --format '{{.Node}}' 2>/dev/null | head -n 200
out=$(docker service logs --raw --timestamps --since "$since" "$svc" 2>&1)
rc=$?
echo "@@rc"
echo "$rc"
if [ "$rc" -ne 0 ]; then
  echo "@@error"
  printf '%s\n' "$out" | tail -n 3
fi
echo "@@log"
printf '%s\n' "$out" | grep -F -e "$pat" | tail -n 5000
echo "@@end"
