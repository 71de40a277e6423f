# stack-status.sh SERVICE URL PROBE: on a manager, in one command: the
# swarm's services (@@services), the tasks of SERVICE (@@tasks), and
# GET URL/v2/ as the nodes see the mirror (@@v2: probe.sh's output, then
# @@v2exit: its exit status). URL "" skips the probe; PROBE is the text of
# probe.sh, run as it is everywhere else. Services and tasks are JSON lines
# (docker's {{json .}}): a task's node is a hostname the node chose, and no
# value can add a line or a section.
set +e
svc=$1; url=$2; probe=$3
echo "@@services"
docker service ls --format '{{json .}}' 2>&1
echo "@@tasks"
docker service ps "$svc" --no-trunc --format '{{json .}}' 2>/dev/null | head -n 20
if [ -n "$url" ]; then
  echo "@@v2"
  sh -c "$probe" probe.sh "${url%/}/v2/" 10 2>&1
  rc=$?
  echo "@@v2exit"
  echo "$rc"
fi
echo "@@end"
