package e2e

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/test/lab"
)

// registriesDoc is the part of `nodes list -o json` about upstreams.
type registriesDoc struct {
	Nodes []struct {
		Name       string `json:"name"`
		CA         string `json:"ca"`
		Registries []struct {
			Registry string `json:"registry"`
			State    string `json:"state"`
			Via      string `json:"via"`
			Reason   string `json:"reason"`
			Fix      string `json:"fix"`
		} `json:"registries"`
	} `json:"nodes"`
}

// registryStates runs nodes list (or mirror status) -o json and returns
// node -> registry -> "state via" (or "not-possible: reason").
func registryStates(t *testing.T, env []string, cmd ...string) map[string]map[string]string {
	t.Helper()
	if len(cmd) == 0 {
		cmd = []string{"nodes", "list"}
	}
	r := swarmctl(t, env, append(cmd, "-o", "json")...)
	var doc registriesDoc
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || (r.Code != 0 && cmd[0] == "nodes") {
		t.Fatalf("nodes list: exit %d, %v\n%s", r.Code, err, r.Stdout)
	}
	out := map[string]map[string]string{}
	for _, n := range doc.Nodes {
		out[n.Name] = map[string]string{}
		for _, g := range n.Registries {
			s := g.State + " " + g.Via
			if g.State == "not-possible" {
				s = "not-possible: " + g.Reason + " | fix: " + g.Fix
			}
			out[n.Name][g.Registry] = strings.TrimSpace(s)
		}
	}
	return out
}

// configureFiles is the certs.d part of a configure node result.
type configureFiles struct {
	Nodes []struct {
		Name    string `json:"name"`
		Outcome string `json:"outcome"`
		Error   string `json:"error"`
		Files   []struct {
			Path   string `json:"path"`
			Action string `json:"action"`
		} `json:"files"`
	} `json:"nodes"`
}

func configureFilesJSON(t *testing.T, env []string, args ...string) (result, configureFiles) {
	t.Helper()
	r := swarmctl(t, env, append([]string{"nodes", "configure", "-o", "json", "--yes"}, args...)...)
	var doc configureFiles
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("nodes configure -o json: %v\n%s", err, r.Stdout)
	}
	for _, n := range doc.Nodes {
		var fs []string
		for _, f := range n.Files {
			fs = append(fs, f.Action+" "+f.Path)
		}
		t.Logf("configure %v: %s: %s %s %v", args, n.Name, n.Outcome, n.Error, fs)
	}
	return r, doc
}

// allRegistries (issue 13) on a fleet with 28.5 containerd-store managers
// and 20.10 workers: three upstreams (docker.io, ghcr.io, quay.io), each
// with its own cache; nodes configure writes hosts.toml for all three on
// the managers and daemon.json (docker.io only) on the workers, which
// nodes list reports as not possible for the others, with why. A manager
// other than the mirror's pulls ghcr.io and quay.io images: only the
// mirror's node appears in those stand-ins' logs. Removing and re-adding
// an upstream changes only hosts.toml (no reload or restart: same PID);
// a second run changes nothing; --remove takes exactly swarmctl's files
// out.
func allRegistries(t *testing.T, l *lab.Lab, image string) {
	mgr := l.Manager()
	var puller, w lab.Machine
	for _, m := range l.Machines() {
		switch {
		case m.Role == "manager" && m.Name != mgr.Name && puller.Name == "":
			puller = m
		case m.Role == "worker":
			w = m
		}
	}
	if puller.Name == "" || w.Name == "" || puller.ImageStore != "containerd" || w.ImageStore != "classic" {
		t.Fatalf("want a containerd-store manager besides %s and a classic-store worker: %+v %+v", mgr.Name, puller, w)
	}
	// Ports pinned: without them an upstream's port is by its position,
	// and quay.io's would move when ghcr.io is taken out.
	three := []any{"docker.io",
		map[string]any{"registry": lab.GHCRName, "remote_url": "https://" + lab.GHCRName, "publish": 5001},
		map[string]any{"registry": lab.QuayName, "remote_url": "https://" + lab.QuayName, "publish": 5002}}
	inv := func(regs []any) []string {
		return []string{"SWARMCTL_INVENTORY=" + stackInventory(t, l, func(m map[string]any) { m["image"], m["registries"] = image, regs })}
	}
	env3, env2 := inv(three), inv([]any{three[0], three[2]})
	if r := swarmctl(t, env3, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l) // main-job just removed the stack's network
	t.Cleanup(func() {
		swarmctl(t, env3, "nodes", "configure", "--remove", "--yes")
		swarmctl(t, env3, "mirror", "uninstall", "--purge", "--yes")
	})
	r, doc := installUpstreams(t, env3)
	if r.Code != 0 || !doc.Result.Deployed || len(doc.Result.Services) != 3 {
		t.Fatalf("install of three upstreams: exit %d %+v", r.Code, doc)
	}

	// The dry run shows each hosts.toml next to daemon.json's diff.
	if r := swarmctl(t, env3, "nodes", "configure", "--dry-run"); r.Code != 0 ||
		!strings.Contains(r.Stdout, "+++ /etc/docker/certs.d/ghcr.io/hosts.toml (swarmctl)") ||
		!strings.Contains(r.Stdout, "+++ /etc/docker/daemon.json (swarmctl)") {
		t.Errorf("configure --dry-run: exit %d\n%s", r.Code, r.Stdout)
	}

	r, cdoc := configureFilesJSON(t, env3)
	if r.Code != 0 {
		t.Fatalf("configure: exit %d", r.Code)
	}
	for _, n := range cdoc.Nodes {
		if n.Outcome != "reloaded" && n.Outcome != "restarted" {
			t.Errorf("%s: %s %s", n.Name, n.Outcome, n.Error)
		}
	}
	for _, m := range l.Machines() {
		for _, reg := range []string{"docker.io", lab.GHCRName, lab.QuayName} {
			p := "/etc/docker/certs.d/" + reg + "/hosts.toml"
			_, err := l.Exec(context.Background(), m.Name, "test", "-f", p)
			if has := err == nil; has != (m.ImageStore == "containerd") {
				t.Errorf("%s (%s store): %s present %v", m.Name, m.ImageStore, p, has)
			}
		}
	}
	t.Logf("%s's ghcr.io hosts.toml:\n%s", puller.Name, inMachine(t, l, puller.Name, "cat", "/etc/docker/certs.d/"+lab.GHCRName+"/hosts.toml"))

	states, sstates := registryStates(t, env3), registryStates(t, env3, "mirror", "status")
	for _, m := range l.Machines() {
		if a, b := fmt.Sprint(states[m.Name]), fmt.Sprint(sstates[m.Name]); a != b {
			t.Errorf("%s: nodes list says %s, mirror status %s", m.Name, a, b)
		}
		for _, reg := range []string{"docker.io", lab.GHCRName, lab.QuayName} {
			got := states[m.Name][reg]
			switch {
			case m.ImageStore == "containerd" && got != "mirrored hosts.toml":
				t.Errorf("nodes list: %s %s: %q, want mirrored hosts.toml", m.Name, reg, got)
			case m.ImageStore == "classic" && reg == "docker.io" && got != "mirrored daemon.json":
				t.Errorf("nodes list: %s %s: %q, want mirrored daemon.json", m.Name, reg, got)
			case m.ImageStore == "classic" && reg != "docker.io" && (!strings.HasPrefix(got, "not-possible: needs Docker >= 28 with the containerd image store") || !strings.Contains(got, "upgrade Docker to 28")):
				t.Errorf("nodes list: %s %s: %q, want not possible with the reason and the fix", m.Name, reg, got)
			}
		}
	}
	if r := swarmctl(t, env3, "nodes", "list"); !strings.Contains(r.Stdout, "ghcr.io=not-possible") || !strings.Contains(r.Stderr, w.Name+": ghcr.io not possible: needs Docker >= 28") {
		t.Errorf("nodes list table:\n%s\n%s", r.Stdout, r.Stderr)
	}

	// Pulls from ghcr.io and quay.io on the other manager: only the
	// mirror's node fetches from the stand-ins. containerd falls back to
	// the registry itself when a mirror does not answer: wait for each
	// cache first.
	for _, port := range []string{"5000", "5001", "5002"} {
		waitMirror(t, "http://"+mgr.IP+":"+port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, c := range []struct{ name, repo, tag string }{{lab.GHCRName, lab.HelloRepo, lab.HelloTag}, {lab.QuayName, lab.BenchRepo, lab.BenchTag}} {
		s, err := l.StandIn(c.name)
		if err != nil {
			t.Fatal(err)
		}
		ref := c.name + "/" + c.repo + ":" + c.tag
		l.Exec(ctx, puller.Name, "docker", "rmi", "-f", ref)
		mark, err := s.Mark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if out, err := l.Exec(ctx, puller.Name, "docker", "pull", ref); err != nil {
			t.Fatalf("%s: docker pull %s: %v\n%s", puller.Name, ref, err, out)
		}
		t.Logf("%s: docker pull %s through the mirror (hosts.toml) in %s", puller.Name, ref, time.Since(start).Round(100*time.Millisecond))
		es, clients := upstreamLog(t, s, mark)
		blobs := 0
		for _, e := range es {
			if strings.Contains(e.Path, "/blobs/") && e.Status == 200 {
				blobs++
			}
		}
		if blobs == 0 || len(clients) != 1 || clients[mgr.IP] == 0 {
			t.Errorf("%s's access log since the pull: %d blob fetches, clients %v; want blobs fetched by the mirror's node %s (%s) alone, never %s (%s)",
				c.name, blobs, clients, mgr.Name, mgr.IP, puller.Name, puller.IP)
		}
		l.Exec(ctx, puller.Name, "docker", "rmi", "-f", ref)
	}

	// Remove ghcr.io, then add it back: hosts.toml only, same dockerd.
	before := snapshots(t, l)
	for _, step := range []struct {
		env    []string
		action string
	}{{env2, "delete"}, {env3, "create"}} {
		r, cdoc = configureFilesJSON(t, step.env)
		if r.Code != 0 {
			t.Fatalf("configure: exit %d", r.Code)
		}
		for _, n := range cdoc.Nodes {
			m, _ := l.Machine(n.Name)
			want, files := "unchanged", ""
			if m.ImageStore == "containerd" {
				want, files = "updated", step.action+" /etc/docker/certs.d/ghcr.io/hosts.toml"
			}
			var got []string
			for _, f := range n.Files {
				got = append(got, f.Action+" "+f.Path)
			}
			if n.Outcome != want || strings.Join(got, ",") != files {
				t.Errorf("%s: %s %v, want %s %s", n.Name, n.Outcome, got, want, files)
			}
		}
	}
	for name, s := range snapshots(t, l) {
		if b := before[name]; b.PID != s.PID || b.Start != s.Start || b.File != s.File {
			t.Errorf("%s: dockerd pid %d -> %d, start %s -> %s, daemon.json changed %v: a hosts.toml change needs no reload or restart",
				name, b.PID, s.PID, b.Start, s.Start, b.File != s.File)
		}
	}
	// A second run changes nothing.
	if r, cdoc = configureFilesJSON(t, env3); r.Code != 0 {
		t.Fatalf("configure: exit %d", r.Code)
	}
	for _, n := range cdoc.Nodes {
		if n.Outcome != "unchanged" {
			t.Errorf("second run: %s %s", n.Name, n.Outcome)
		}
	}

	// A hosts.toml that does not parse fails its node with file and line,
	// left as it was; the other nodes go on (a fourth upstream added: the
	// other managers get its hosts.toml, the worker cannot).
	broken := "server = \"https://quay.io\"\n[host.\"https://x\"\n"
	p := "/etc/docker/certs.d/" + lab.QuayName + "/hosts.toml"
	if out, err := l.ExecStdin(ctx, puller.Name, strings.NewReader(broken), "sh", "-c", `cat > "$1"`, "sh", p); err != nil {
		t.Fatalf("%s: %v %s", puller.Name, err, out)
	}
	r, cdoc = configureFilesJSON(t, inv([]any{three[0], three[1], three[2], map[string]any{"registry": "registry.example.com:5000", "remote_url": "https://" + lab.GHCRName, "publish": 5003}}))
	if r.Code != 1 {
		t.Errorf("configure with a broken hosts.toml on %s: exit %d, want 1", puller.Name, r.Code)
	}
	for _, n := range cdoc.Nodes {
		if n.Name == puller.Name && (n.Outcome != "failed" || !strings.Contains(n.Error, p+": line 2")) {
			t.Errorf("%s: %s %q, want failed naming %s: line 2", n.Name, n.Outcome, n.Error, p)
		}
		m, _ := l.Machine(n.Name)
		if want := map[bool]string{true: "updated", false: "unchanged"}[m.ImageStore == "containerd"]; n.Name != puller.Name && n.Outcome != want {
			t.Errorf("%s: %s %s, want %s", n.Name, n.Outcome, n.Error, want)
		}
	}
	if got := inMachine(t, l, puller.Name, "cat", p); got != broken {
		t.Errorf("%s: the broken %s was changed:\n%s", puller.Name, p, got)
	}
	inMachine(t, l, puller.Name, "sh", "-c", `rm -f "$1" && rmdir "$(dirname "$1")"`, "sh", p)

	if r, cdoc = configureFilesJSON(t, env3, "--remove"); r.Code != 0 {
		t.Fatalf("configure --remove: exit %d", r.Code)
	}
	for _, m := range l.Machines() {
		if out, err := l.Exec(ctx, m.Name, "sh", "-c", "ls -A /etc/docker/certs.d 2>/dev/null"); err == nil && strings.TrimSpace(out) != "" {
			t.Errorf("%s: certs.d after --remove: %s", m.Name, out)
		}
		if got := liveMirrors(t, l, m.Name); !strings.HasPrefix(got, "[] ") && !strings.HasPrefix(got, "null ") {
			t.Errorf("%s: mirrors still %s after --remove", m.Name, got)
		}
	}
}

// companyCAContainerd (issues 12 and 13 together) on a 28.5 fleet with the
// containerd store: the mirror serves HTTPS itself with a certificate
// from a company CA the nodes do not trust; nodes configure puts the CA
// in every mirror host's certs.d directory and writes hosts.toml files
// naming it (containerd reads no directory certificate once a hosts.toml
// exists), with no insecure-registries; the worker then pulls Docker Hub
// and ghcr.io images over HTTPS through the mirror, and only the
// mirror's node fetches from the stand-ins; --remove takes every file out.
func companyCAContainerd(t *testing.T, l *lab.Lab, image string) {
	mgr, w := l.Manager(), workerOf(l)
	if w.Name == mgr.Name || w.ImageStore != "containerd" {
		t.Fatalf("want a containerd-store worker: %+v", w)
	}
	dir := t.TempDir()
	caCert, caKey, caDER := companyCA(t, "swarmctl e2e company CA (containerd)")
	caFile := filepath.Join(dir, "company-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	cert, key := serverCert(t, dir, mgr.IP, "2", caCert, caKey)
	hub, ghcr := mgr.IP+":5443", mgr.IP+":5444"
	env := []string{"SWARMCTL_INVENTORY=" + stackInventory(t, l, func(m map[string]any) {
		m["url"], m["tls_cert"], m["tls_key"], m["publish"], m["ca_file"], m["image"] = "https://"+hub, cert, key, 5443, caFile, image
		m["registries"] = []any{"docker.io", map[string]any{"registry": lab.GHCRName, "remote_url": "https://" + lab.GHCRName, "publish": 5444}}
		delete(m, "insecure")
	})}
	if r := swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes"); r.Code != 0 {
		t.Fatalf("uninstall --purge (precondition): exit %d", r.Code)
	}
	freshOverlay(t, l)
	t.Cleanup(func() {
		swarmctl(t, env, "nodes", "configure", "--remove", "--yes")
		swarmctl(t, env, "mirror", "uninstall", "--purge", "--yes")
	})
	if r, doc := installUpstreams(t, env); r.Code != 0 || !doc.Result.Deployed || len(doc.Result.Services) != 2 {
		t.Fatalf("install with TLS: exit %d %+v", r.Code, doc)
	}
	r, cdoc := configureFilesJSON(t, env)
	if r.Code != 0 {
		t.Fatalf("configure: exit %d", r.Code)
	}
	for _, n := range cdoc.Nodes {
		var got []string
		for _, f := range n.Files {
			got = append(got, f.Action+" "+f.Path)
		}
		want := "create /etc/docker/certs.d/" + hub + "/ca.crt,create /etc/docker/certs.d/" + ghcr + "/ca.crt,create /etc/docker/certs.d/docker.io/hosts.toml,create /etc/docker/certs.d/ghcr.io/hosts.toml"
		if strings.Join(got, ",") != want {
			t.Errorf("%s: files %v, want %s", n.Name, got, want)
		}
	}
	toml := inMachine(t, l, w.Name, "cat", "/etc/docker/certs.d/ghcr.io/hosts.toml")
	if !strings.Contains(toml, `[host."https://`+ghcr+`"]`) || !strings.Contains(toml, `ca = "/etc/docker/certs.d/`+ghcr+`/ca.crt"`) {
		t.Errorf("%s's ghcr.io hosts.toml does not name the CA:\n%s", w.Name, toml)
	}
	if info := inMachine(t, l, w.Name, "docker", "info", "--format", "{{json .RegistryConfig.IndexConfigs}}"); strings.Contains(info, `"`+hub+`":`) || strings.Contains(info, `"Secure":false`) {
		t.Errorf("%s lists %s in its registry config (insecure?): %s", w.Name, hub, info)
	}

	// containerd falls back to the registry itself when a mirror does not
	// answer: wait for both caches, over HTTPS with the CA, from the worker.
	for _, h := range []string{hub, ghcr} {
		if out, err := l.Exec(context.Background(), w.Name, "sh", "-c", `for i in $(seq 120); do curl -fsS -o /dev/null --cacert "/etc/docker/certs.d/$1/ca.crt" "https://$1/v2/" && exit 0; sleep 1; done; exit 1`, "sh", h); err != nil {
			t.Fatalf("mirror https://%s does not answer %s with the CA: %v\n%s", h, w.Name, err, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, c := range []struct {
		standIn lab.StandIn
		ref     string
		repo    string
	}{{l.Hub(), "busybox:latest", "library/busybox"}, {mustStandIn(t, l, lab.GHCRName), lab.GHCRName + "/" + lab.HelloRepo + ":" + lab.HelloTag, lab.HelloRepo}} {
		l.Exec(ctx, w.Name, "docker", "rmi", "-f", c.ref)
		mark, err := c.standIn.Mark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if out, err := l.Exec(ctx, w.Name, "docker", "pull", c.ref); err != nil {
			t.Fatalf("%s: docker pull %s over HTTPS through the mirror: %v\n%s", w.Name, c.ref, err, out)
		}
		t.Logf("%s: docker pull %s over HTTPS (company CA, hosts.toml) in %s", w.Name, c.ref, time.Since(start).Round(100*time.Millisecond))
		onlyMirrorFetched(t, l, c.standIn, mark, mgr, c.repo)
		l.Exec(ctx, w.Name, "docker", "rmi", "-f", c.ref)
	}

	if r, _ = configureFilesJSON(t, env, "--remove"); r.Code != 0 {
		t.Fatalf("configure --remove: exit %d", r.Code)
	}
	for _, m := range l.Machines() {
		if out, err := l.Exec(ctx, m.Name, "sh", "-c", "ls -A /etc/docker/certs.d 2>/dev/null"); err == nil && strings.TrimSpace(out) != "" {
			t.Errorf("%s: certs.d after --remove: %s", m.Name, out)
		}
	}
}

func mustStandIn(t *testing.T, l *lab.Lab, name string) lab.StandIn {
	t.Helper()
	s, err := l.StandIn(name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
