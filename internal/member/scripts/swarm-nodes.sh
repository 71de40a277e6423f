# swarm-nodes.sh: on a manager, one JSON object per swarm member (id,
# hostname, role, state, availability, addr, and for managers manager_addr,
# reachability, leader). Every value goes through docker's json template
# function: a hostname, which a node chooses itself when it joins, stays one
# string whatever it holds ('|', line breaks, quotes), so it can neither add
# members nor break the list.
ids=$(docker node ls -q) || exit 1
[ -n "$ids" ] || exit 0
# shellcheck disable=SC2086 # one argument per node ID
docker node inspect --format '{"id":{{json .ID}},"hostname":{{json .Description.Hostname}},"role":{{json .Spec.Role}},"state":{{json .Status.State}},"availability":{{json .Spec.Availability}},"addr":{{json .Status.Addr}}{{if .ManagerStatus}},"manager_addr":{{json .ManagerStatus.Addr}},"reachability":{{json .ManagerStatus.Reachability}},"leader":{{json .ManagerStatus.Leader}}{{end}}}' $ids
