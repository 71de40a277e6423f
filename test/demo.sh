#!/usr/bin/env bash
# make demo [ENGINE=20.10|26.1|28.5 IMAGE_STORE=classic|containerd]: bring up
# a local lab (3 managers + 2 workers, docker-latest layout, HTTPS stand-ins
# for Docker Hub, ghcr.io and quay.io) and run swarmctl's main job
# against it step by step, the way an operator would: mirror install, nodes
# configure, mirror status, a docker pull through the mirror; then `apply`,
# which does it all in one command and finds nothing left to do. The lab
# installs its host packages first if it can (root, apt-get). Leaves the lab running;
# `make lab-down LAB_NAME=demo` ends it.
set -euo pipefail
cd "$(dirname "$0")/.."
SWARMCTL=${SWARMCTL:-$PWD/bin/swarmctl}
LAB_NAME=${LAB_NAME:-demo}
ENGINE=${ENGINE:-20.10}
IMAGE_STORE=${IMAGE_STORE:-classic}
STATE=${SWARMCTL_LAB_DIR:-/tmp/swarmctl-lab}/$LAB_NAME
LAB=(go run ./test/lab/cmd/lab)

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

step "Start the lab: Docker $ENGINE, $IMAGE_STORE image store (cached images: under a minute; the first run builds them from Debian packages)"
"${LAB[@]}" up --name "$LAB_NAME" --engine "$ENGINE" --image-store "$IMAGE_STORE"

export SWARMCTL_INVENTORY=$STATE/inventory.yaml
step "The inventory the lab wrote: SSH defaults, the mirror (pull-through cache of https://registry-1.docker.io, the lab's HTTPS stand-in for Docker Hub), the nodes"
cat "$SWARMCTL_INVENTORY"

step "Check access: every node over SSH with strict host key checking; its engine, containerd and image store"
run "$SWARMCTL" nodes list

step "Deploy the mirror stack (registry:2 as a pull-through cache) on a manager; waits until GET /v2/ answers"
run "$SWARMCTL" mirror install

step "Check everything a run needs, here and on every node, one line per check (the mirror as each node reaches it); nothing is changed"
run "$SWARMCTL" doctor

step "The plan (which node reloads or restarts, in which order) and every node's daemon.json diff; nothing is changed"
run "$SWARMCTL" nodes configure --dry-run

step "Configure every node: merge the mirror, restart docker quorum-safe (workers, then managers one at a time, leader last), verify. Restarts need consent: on a terminal swarmctl asks; this script runs unattended, so --yes"
run "$SWARMCTL" nodes configure --yes

step "Restarting docker on the node that runs the registry stopped its container; the swarm starts it again. Wait until mirror status exits 0 (healthy)"
for i in $(seq 1 60); do
  if "$SWARMCTL" mirror status >/dev/null 2>&1; then echo "healthy after about $((i * 2 - 2)) s"; break; fi
  [ "$i" = 60 ] && { echo "the mirror did not become healthy in 2 minutes" >&2; exit 1; }
  sleep 2
done

step "Check: the stack, the endpoint, the cache, every node"
run "$SWARMCTL" mirror status

step "Pull busybox on a worker. Nodes can reach the Docker Hub stand-in directly (as real nodes reach Docker Hub), so the stand-in's access log shows which way the pull went"
mark=$("${LAB[@]}" access-log --name "$LAB_NAME" --stand-in docker.io --seq)
run ssh -F "$STATE/ssh_config" worker1 docker pull busybox
echo "Docker Hub stand-in's access log for that pull (client address, method, path, status):"
log=$("${LAB[@]}" access-log --name "$LAB_NAME" --stand-in docker.io --after "$mark")
sed -E 's/.*"client":"([^"]*)","method":"([^"]*)","path":"([^"]*)","status":([0-9]+).*/  \1 \2 \3 \4/' <<<"$log"
mirror_ip=$(awk '/^ *url:/ {print $2; exit}' "$SWARMCTL_INVENTORY" | sed -E 's#^[a-z]+://([^:/]+).*#\1#')
clients=$(sed -E 's/.*"client":"([^"]*)".*/\1/' <<<"$log" | sort -u)
if [ "$clients" != "$mirror_ip" ]; then
  echo "expected requests from the mirror's node $mirror_ip only, got: ${clients:-none}" >&2
  exit 1
fi
echo "Only $mirror_ip, the node running the mirror, fetched from Docker Hub: the pull went through the mirror."

step "The mirror now caches library/busybox"
run "$SWARMCTL" mirror status

step "The same job in one command, as a CI job would run it: apply finds nothing left to change"
run "$SWARMCTL" apply

printf '\nDone. The lab is still running: make lab-down LAB_NAME=%s\n' "$LAB_NAME"
