# registry-metrics.sh SERVICE URL: on the node running a task of SERVICE,
# the registry's Prometheus page URL read from inside its container (the
# debug listener is bound to the container's loopback, never published).
# Exit 3: no running task of SERVICE on this node.
set +e
svc=$1; url=$2
id=$(docker ps -q --filter "label=com.docker.swarm.service.name=$svc" | head -n 1)
if [ -z "$id" ]; then echo "no running task of $svc on this node" >&2; exit 3; fi
docker exec "$id" wget -qO- "$url"
