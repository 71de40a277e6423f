# upstream-tasks.sh SERVICE...: on a manager, the running tasks of each
# registry service: a section @@s<N> per service (N counts from 1 in the
# order given) of docker's {{json .}} lines, so no value can add a line or
# a section. A service that does not exist gives an empty section.
set +e
n=0
for svc in "$@"; do
  n=$((n+1))
  echo "@@s$n"
  docker service ps "$svc" --no-trunc --filter desired-state=running --format '{{json .}}' 2>/dev/null | head -n 50
done
echo "@@end"
