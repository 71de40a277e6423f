package member

import (
	"reflect"
	"testing"
)

// EncodeFacts is what fakes answer facts.sh with: ParseFacts must read it
// back to the same facts.
func TestEncodeFactsRoundTrips(t *testing.T) {
	for _, f := range []*Facts{
		{OS: "Debian GNU/Linux 12 (bookworm)", User: "root", Root: true, Hostname: "m1", Service: "docker-latest", ServiceActive: true,
			ExecStart:  "{ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest --config-file /etc/docker-latest/daemon.json $OPTIONS ; ignore_errors=no }",
			EnvOptions: "OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'", DaemonJSONPath: "/etc/docker-latest/daemon.json",
			DaemonJSON: []byte("{\n\t\"debug\": true\n}\n\x00odd"), DaemonJSONExists: true, DockerVersion: "24.0.7", LiveMirrors: []string{"https://m.example.com/"},
			LiveExperimental: true, SwarmState: "active", SwarmNodeID: "abc", SwarmAddr: "10.0.0.1", SwarmManager: true, SwarmLeader: true,
			DaemonPID: 4242, DaemonStart: "123456", ValidateSupported: true},
		{User: "ops", Hostname: "w1", Service: "docker", DaemonJSONPath: "/etc/docker/daemon.json", DaemonJSONExists: true, DaemonJSON: []byte{},
			DockerVersion: "20.10.24", SwarmState: "inactive", DaemonStart: "0"},
		{User: "root", Root: true, Hostname: "none", DaemonJSONPath: "/etc/docker/daemon.json", DockerError: "Cannot connect to the Docker daemon"},
		{User: "root", Root: true, Hostname: "new", Service: "docker", DaemonJSONPath: "/etc/docker/daemon.json", DockerVersion: "28.5.2+dfsg4",
			SwarmState: "inactive", ValidateSupported: true, ContainerdVersion: "2.1.9+unknown", StorageDriver: "overlayfs", ImageStore: ImageStoreContainerd,
			OSType: "linux", Architecture: "aarch64"},
		{User: "root", Root: true, Hostname: "old", Service: "docker", DaemonJSONPath: "/etc/docker/daemon.json", DockerVersion: "20.10.24+dfsg1",
			SwarmState: "inactive", ContainerdVersion: "1.6.20~ds1", StorageDriver: "vfs", ImageStore: ImageStoreClassic},
	} {
		got, err := ParseFacts(EncodeFacts(f))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
		}
	}
}

func TestEncodeSwarmNodesRoundTrips(t *testing.T) {
	ns := []SwarmNode{
		{ID: "id-m1", Hostname: "m1", Role: "manager", State: "ready", Availability: "active", Addr: "10.0.0.1", Reachability: "reachable", Leader: true},
		{ID: "id-m2", Hostname: "m2", Role: "manager", State: "down", Availability: "active", Addr: "fd00::2", Reachability: "unreachable"},
		{ID: "id-w1", Hostname: "w1", Role: "worker", State: "ready", Availability: "drain", Addr: "10.0.0.2"},
	}
	got, err := ParseSwarmNodes(string(EncodeSwarmNodes(ns)))
	if err != nil || !reflect.DeepEqual(got, ns) {
		t.Errorf("round trip: %+v, %v", got, err)
	}
}
