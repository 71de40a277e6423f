package member

import "fmt"

// Facts is what swarmctl learns about a node in one remote round trip.
type Facts struct {
	OS            string `json:"os"`             // PRETTY_NAME from /etc/os-release
	User          string `json:"user"`           // login user
	Root          bool   `json:"root"`           // login user is uid 0
	Service       string `json:"service"`        // "docker-latest" or "docker" ("" = none found)
	ServiceActive bool   `json:"service_active"` // systemctl is-active
	// ExecStart is the unit's ExecStart argv as systemd reports it, and
	// EnvOptions the OPTIONS-style variables of its EnvironmentFile(s):
	// both are checked for flags that conflict with daemon.json keys.
	ExecStart      string `json:"-"`
	EnvOptions     string `json:"-"`
	DaemonJSONPath string `json:"daemon_json_path"`
	// DaemonJSON is the file's content; DaemonJSONExists is false when the
	// file is missing (an empty file exists with no content).
	DaemonJSON       []byte `json:"-"`
	DaemonJSONExists bool   `json:"daemon_json_exists"`
	// DaemonJSONTooLarge: the file is over MaxDaemonJSON bytes
	// (DaemonJSONSize) and was not read; DaemonJSON is empty.
	DaemonJSONTooLarge bool   `json:"daemon_json_too_large,omitempty"`
	DaemonJSONSize     int64  `json:"daemon_json_size,omitempty"`
	DockerVersion      string `json:"docker_version"`
	// ContainerdVersion is the containerd component's version from docker
	// version; StorageDriver and ImageStore (ImageStoreClassic or
	// ImageStoreContainerd) come from docker info. Empty when docker does
	// not answer.
	ContainerdVersion string `json:"containerd_version"`
	StorageDriver     string `json:"storage_driver"`
	ImageStore        string `json:"image_store"`
	// OSType and Architecture are docker info's (linux, x86_64 / aarch64:
	// the kernel's uname -m): the platform a pull picks from an index.
	OSType       string `json:"os_type,omitempty"`
	Architecture string `json:"architecture,omitempty"`
	// DockerError is what `docker info` said when it did not answer.
	DockerError string `json:"docker_error,omitempty"`
	// Live state from `docker info` (what the daemon actually uses).
	LiveMirrors      []string `json:"live_mirrors"`
	LiveExperimental bool     `json:"live_experimental"`
	// Swarm: LocalNodeState (active/inactive/pending/...), NodeID, NodeAddr,
	// ControlAvailable (manager), and whether this node is the leader.
	SwarmState   string `json:"swarm_state"`
	SwarmNodeID  string `json:"swarm_node_id"`
	SwarmAddr    string `json:"swarm_addr"`
	SwarmManager bool   `json:"swarm_manager"`
	SwarmLeader  bool   `json:"swarm_leader"`
	Hostname     string `json:"hostname"`
	// DaemonPID and DaemonStart identify the running dockerd (MainPID and
	// ActiveEnterTimestampMonotonic of the unit): used to prove no restart.
	DaemonPID   int    `json:"daemon_pid"`
	DaemonStart string `json:"daemon_start"`
	// CertsD is /etc/docker/certs.d (nil when the node did not say: a
	// fake's facts).
	CertsD *CertsD `json:"-"`
	// ValidateSupported: `dockerd --validate` exists (Docker >= 23).
	ValidateSupported bool `json:"validate_supported"`
}

// Role returns "leader", "manager", "worker" or "none".
func (f *Facts) Role() string {
	switch {
	case f.SwarmState != "active":
		return "none"
	case f.SwarmLeader:
		return "leader"
	case f.SwarmManager:
		return "manager"
	default:
		return "worker"
	}
}

// TooLargeError says a daemon.json was not read: it is over MaxDaemonJSON.
func (f *Facts) TooLargeError() error {
	return fmt.Errorf("%s is %d bytes, over the %d KiB swarmctl reads: not a daemon.json it will edit (nothing read or written; check the file by hand)",
		f.DaemonJSONPath, f.DaemonJSONSize, MaxDaemonJSON>>10)
}
