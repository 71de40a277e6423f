# swarm-nodes.sh: on a manager, one line per swarm member:
# ID|hostname|role|state|availability|address|manager address|reachability|leader
ids=$(docker node ls -q) || exit 1
[ -n "$ids" ] || exit 0
# shellcheck disable=SC2086 # one argument per node ID
docker node inspect --format '{{.ID}}|{{.Description.Hostname}}|{{.Spec.Role}}|{{.Status.State}}|{{.Spec.Availability}}|{{.Status.Addr}}|{{if .ManagerStatus}}{{.ManagerStatus.Addr}}|{{.ManagerStatus.Reachability}}|{{.ManagerStatus.Leader}}{{else}}||{{end}}' $ids
