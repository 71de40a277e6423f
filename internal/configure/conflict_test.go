package configure

import (
	"fmt"
	"strings"
	"testing"
)

// rhelExecStart is a RHEL/Atomic docker-latest unit's ExecStart as systemctl
// shows it: besides $OPTIONS it expands the registry variables of
// /etc/sysconfig/docker-latest and /run/containers/registries.conf.
const rhelExecStart = "{ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest --add-runtime docker-runc=/usr/libexec/docker/docker-runc-latest " +
	"--default-runtime=docker-runc --exec-opt native.cgroupdriver=systemd --userland-proxy-path=/usr/libexec/docker/docker-proxy-latest " +
	"$OPTIONS $DOCKER_STORAGE_OPTIONS $DOCKER_NETWORK_OPTIONS $ADD_REGISTRY $BLOCK_REGISTRY $INSECURE_REGISTRY $REGISTRIES ; ignore_errors=no ; start_time=[n/a] }"

// The variables RHEL/Atomic units expand are checked like OPTIONS, but
// only when ExecStart expands them, and only flags that set a key we write
// conflict (--add-registry and --block-registry do not).
func TestConflictRegistryVariablesOfRHELUnits(t *testing.T) {
	all := []string{"registry-mirrors", "insecure-registries", "experimental"}
	for _, tc := range []struct {
		name, execStart, env string
		want                 string // "key@where ..." sorted as found, "" = none
	}{
		{"INSECURE_REGISTRY refused", rhelExecStart,
			"OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'",
			"insecure-registries@$INSECURE_REGISTRY=--insecure-registry"},
		{"REGISTRIES refused", rhelExecStart,
			"REGISTRIES=' --add-registry registry.example.org --insecure-registry=10.0.0.6:5000'",
			"insecure-registries@$REGISTRIES=--insecure-registry=10.0.0.6:5000"},
		{"braced reference", "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd ${INSECURE_REGISTRY} ; x }",
			"INSECURE_REGISTRY=--insecure-registry 10.0.0.5:5000",
			"insecure-registries@$INSECURE_REGISTRY=--insecure-registry"},
		{"ADD_REGISTRY and BLOCK_REGISTRY pass", rhelExecStart,
			"ADD_REGISTRY='--add-registry registry.example.com --add-registry registry.example.org'\nBLOCK_REGISTRY='--block-registry public'\n" +
				"REGISTRIES=' --add-registry registry.example.org --block-registry all'",
			""},
		{"not expanded", "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// $OPTIONS ; x }",
			"OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'\nREGISTRIES='--registry-mirror=https://m'",
			""},
		{"a longer name is another variable", "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd $INSECURE_REGISTRY_OLD $OPTIONS2 ; x }",
			"INSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'\nOPTIONS='--experimental'\nOPTIONS2=--log-level=warn",
			""},
		{"$$ is a literal dollar", "{ path=/bin/sh ; argv[]=/bin/sh -c \"echo $$OPTIONS; exec dockerd\" ; x }",
			"OPTIONS='--experimental'",
			""},
		{"several, in a stable order", rhelExecStart,
			"OPTIONS='--experimental'\nREGISTRIES='--registry-mirror https://a'\nINSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'",
			"registry-mirrors@$REGISTRIES=--registry-mirror insecure-registries@$INSECURE_REGISTRY=--insecure-registry experimental@$OPTIONS=--experimental"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for range 5 { // map order must not show
				var got []string
				for _, c := range findConflicts(tc.execStart, tc.env, all) {
					got = append(got, fmt.Sprintf("%s@%s=%s", c.Key, c.Where, c.Flag))
				}
				if g := strings.Join(got, " "); g != tc.want {
					t.Fatalf("conflicts %q, want %q", g, tc.want)
				}
			}
		})
	}
}

// A node whose unit passes --insecure-registry through $INSECURE_REGISTRY
// is refused before anything is written when swarmctl writes
// insecure-registries; --add-registry through $ADD_REGISTRY does not stop
// the write.
func TestRegistryVariableConflictRefusedBeforeWriting(t *testing.T) {
	for _, tc := range []struct {
		name, env string
		refused   bool
	}{
		{"insecure", "OPTIONS='--selinux-enabled'\nINSECURE_REGISTRY='--insecure-registry 10.0.0.5:5000'", true},
		{"add-registry", "OPTIONS='--selinux-enabled'\nADD_REGISTRY='--add-registry registry.example.com'\nBLOCK_REGISTRY='--block-registry public'", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := newCluster()
			n := newFakeNode(t, cl, "n1", "{}")
			n.execStart = rhelExecStart
			n.envOptions = tc.env
			s := addSettings()
			s.Insecure = true
			rep := run(t, opts(s), n)
			r := rep.Nodes[0]
			if tc.refused {
				if r.Outcome != Failed || !strings.Contains(r.Error, "--insecure-registry (in $INSECURE_REGISTRY)") {
					t.Fatalf("got %s %q", r.Outcome, r.Error)
				}
				if len(n.fh.Writes) != 0 {
					t.Errorf("wrote %v", n.fh.Writes)
				}
				return
			}
			if r.Outcome == Failed || len(n.fh.Writes) == 0 {
				t.Fatalf("got %s %q, writes %v", r.Outcome, r.Error, n.fh.Writes)
			}
		})
	}
}
