# probe-pull.sh REF SECONDS MIRROR_URL REGISTRY: on a node, pull REF (an
# image pinned by digest) through the node's own dockerd, the way its pulls
# go, then put the node back as it was, and gather what explains the route
# the pull took. Sections (see nodes.Sections):
#   @@addrs    the node's IP addresses (a registry logs one of them)
#   @@had      the image ID REF named before the pull ("" when none)
#   @@start    @@finish: the pull's wall clock, UTC seconds (.nanoseconds
#              where date has %N)
#   @@pull     docker pull's exit status, then its last lines
#   @@cleanup  "removed" (the node did not have REF: docker rmi, never
#              forced), "kept: <why>" (a container uses it), or nothing
#   @@mirror   GET MIRROR_URL/v2/ from the node, TLS checked as dockerd
#              does (the system roots, /etc/docker/certs.d/<host>/ca.crt):
#              curl's exit status and the HTTP status ("127 -": no curl)
#   @@hoststoml  /etc/docker/certs.d/REGISTRY/hosts.toml in base64, if any
set +e
LC_ALL=C; export LC_ALL
ref=$1; secs=$2; url=$3; reg=$4
echo "@@addrs"
hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^$'
echo "@@had"
had=$(docker image inspect --format '{{.Id}}' "$ref" 2>/dev/null)
printf '%s\n' "$had"
echo "@@start"
date -u +%s.%N
out=$(timeout "$secs" docker pull "$ref" 2>&1)
rc=$?
echo "@@finish"
date -u +%s.%N
echo "@@pull"
echo "$rc"
printf '%s\n' "$out" | tail -n 5
echo "@@cleanup"
if [ "$rc" -eq 0 ] && [ -z "$had" ]; then
  if msg=$(docker rmi "$ref" 2>&1 >/dev/null); then echo removed; else echo "kept: $(printf '%s' "$msg" | tail -n 1)"; fi
fi
echo "@@mirror"
if command -v curl >/dev/null 2>&1; then
  hostport=${url#*://}; hostport=${hostport%%/*}
  ca=/etc/docker/certs.d/$hostport/ca.crt
  if [ -f "$ca" ]; then
    code=$(curl -sS -o /dev/null --max-time 10 --cacert "$ca" -w '%{http_code}' "${url%/}/v2/" 2>/dev/null)
  else
    code=$(curl -sS -o /dev/null --max-time 10 -w '%{http_code}' "${url%/}/v2/" 2>/dev/null)
  fi
  echo "$? $code"
else
  echo "127 -"
fi
echo "@@hoststoml"
f=/etc/docker/certs.d/$reg/hosts.toml
if [ -f "$f" ]; then base64 < "$f" | tr -d '\n'; echo; fi
echo "@@end"
