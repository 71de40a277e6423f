# upstream-task.sh SERVICE DATADIR URL PROBE METRICS VARS: on the node
# running a task of SERVICE, in one command: its container (@@container),
# the filesystem holding the cache's DATADIR (@@df: df -Pk's line), and from
# inside the container: the registry's config (@@config; @@v3 says whether
# it is at registry:3's path), its trust store (@@roots), its Prometheus
# page at METRICS (@@metrics) and its expvar page at VARS (@@vars, read only
# when METRICS has no proxy counters: registry:2), each base64 on one line
# (their content can add no section), and GET URL/v2/ (@@v2: probe.sh's
# output, PROBE being its text, then @@v2exit: its exit status). The config
# may hold the upstream password: it goes to swarmctl on stdout only, never
# on a command line. Everything inside runs through the image's sh: a
# busybox sh may have its applets (cat) only as builtins.
set +e
svc=$1; dir=$2; url=$3; probe=$4; metrics=$5; vars=$6
cid=$(docker ps --filter "label=com.docker.swarm.service.name=$svc" --filter status=running --format '{{.ID}}' 2>/dev/null | head -n 1)
echo "@@container"
echo "$cid"
echo "@@df"
df -Pk -- "$dir" 2>&1 | tail -n 1
if [ -n "$cid" ]; then
  echo "@@v3"
  docker exec "$cid" sh -c 'test -f /etc/distribution/config.yml && echo yes'
  echo "@@config"
  docker exec "$cid" sh -c 'cat /etc/distribution/config.yml 2>/dev/null || cat /etc/docker/registry/config.yml' 2>/dev/null | base64 | tr -d '\n'
  echo
  echo "@@roots"
  docker exec "$cid" sh -c 'cat /etc/ssl/certs/ca-certificates.crt' 2>/dev/null | base64 | tr -d '\n'
  echo
  echo "@@metrics"
  page=$(docker exec "$cid" sh -c 'wget -q -O - "$1"' sh "$metrics" 2>/dev/null | base64 | tr -d '\n')
  echo "$page"
  if ! printf '%s' "$page" | base64 -d 2>/dev/null | grep -q '^registry_proxy_'; then
    echo "@@vars"
    docker exec "$cid" sh -c 'wget -q -O - "$1"' sh "$vars" 2>/dev/null | base64 | tr -d '\n'
    echo
  fi
  echo "@@v2"
  docker exec "$cid" sh -c "$probe" probe.sh "${url%/}/v2/" 10 2>&1
  rc=$?
  echo "@@v2exit"
  echo "$rc"
fi
echo "@@end"
