# traefik-services.sh: on a manager, one line per swarm service: its
# name, image, command and arguments (JSON), tab separated. JSON escapes
# tabs and newlines, so a line is always one service.
ids=$(docker service ls -q) || exit 1
[ -n "$ids" ] || exit 0
# shellcheck disable=SC2086 # one argument per service ID
docker service inspect --format '{{.Spec.Name}}{{"\t"}}{{.Spec.TaskTemplate.ContainerSpec.Image}}{{"\t"}}{{json .Spec.TaskTemplate.ContainerSpec.Command}}{{"\t"}}{{json .Spec.TaskTemplate.ContainerSpec.Args}}' $ids
