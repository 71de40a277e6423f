# node-labels.sh: one JSON object per node of the swarm (run on a manager):
# its ID, hostname, state (ready, down, ...), availability (active, pause,
# drain), role (manager, worker) and labels. Every value is encoded by
# docker's own json function.
docker node ls -q | xargs docker node inspect --format '{"id":{{json .ID}},"hostname":{{json .Description.Hostname}},"state":{{json .Status.State}},"availability":{{json .Spec.Availability}},"role":{{json .Spec.Role}},"labels":{{json .Spec.Labels}}}'
