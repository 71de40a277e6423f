package configure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/nodes/fakehost"
)

const mirror = "https://mirror.example.com"

func boolp(b bool) *bool { return &b }

func addSettings() daemonjson.Settings {
	return daemonjson.Settings{Mirrors: []string{mirror}, Experimental: boolp(true)}
}

func opts(s daemonjson.Settings) Options {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	return Options{Settings: s, Timeout: 5 * time.Second, Now: func() time.Time { return t0 }}
}

func run(t *testing.T, o Options, ns ...*fakeNode) *Report {
	t.Helper()
	var targets []*member.Member
	for _, n := range ns {
		targets = append(targets, connected(n.fh.Name(), n.Host()))
	}
	rep := Run(context.Background(), targets, o)
	if len(rep.Nodes) != len(ns) {
		t.Fatalf("got %d results for %d nodes", len(rep.Nodes), len(ns))
	}
	return rep
}

func commands(n *fakeNode) []string {
	var out []string
	for _, c := range n.fh.Commands {
		switch c.Script.Name() {
		case "facts.sh":
			out = append(out, "facts")
		case "backup.sh":
			out = append(out, "backup")
		case "verify.sh":
			out = append(out, "verify")
		case "remove.sh":
			out = append(out, "remove")
		case "node-wait.sh":
			out = append(out, "wait-node")
		case "":
			out = append(out, strings.Join(c.Args[:min(2, len(c.Args))], " "))
		default:
			out = append(out, "script")
		}
	}
	return out
}

func TestUnchangedCostsOneCommandAndNoLock(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", `{"registry-mirrors": ["https://mirror.example.com/"], "experimental": true}`)
	n.mirrors, n.experimental = []string{mirror + "/"}, true
	rep := run(t, opts(addSettings()), n)
	if got := rep.Nodes[0].Outcome; got != Unchanged {
		t.Fatalf("outcome %s (%s), want unchanged", got, rep.Nodes[0].Error)
	}
	if len(n.fh.Commands) != 1 || n.locks != 0 || len(n.fh.Writes) != 0 {
		t.Fatalf("unchanged path: %d commands %v, %d locks, %d writes; want 1, 0, 0", len(n.fh.Commands), commands(n), n.locks, len(n.fh.Writes))
	}
}

func TestReloadOnlyPath(t *testing.T) {
	cl := newCluster()
	orig := "{\n  \"log-driver\": \"journald\",\n  \"experimental\": true\n}\n"
	n := newFakeNode(t, cl, "n1", orig)
	n.experimental = true
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Reloaded {
		t.Fatalf("outcome %s (%s), want reloaded", r.Outcome, r.Error)
	}
	if r.OldPID != 100 || r.NewPID != 100 {
		t.Errorf("pids %d -> %d, want 100 -> 100 (reload keeps the daemon)", r.OldPID, r.NewPID)
	}
	want := []string{"facts", "facts", "backup", "systemctl reload", "verify"}
	if got := commands(n); !slices.Equal(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	if n.locks != 1 {
		t.Errorf("locks %d, want 1", n.locks)
	}
	if got, _ := n.fh.File(r.Backup); got != orig || !strings.HasPrefix(r.Backup, "/etc/docker/daemon.json.swarmctl-20250102T030405") {
		t.Errorf("backup %q holds %q", r.Backup, got)
	}
	data, _ := n.fh.File(n.cfg)
	if !strings.Contains(data, mirror) || !strings.Contains(data, `"log-driver": "journald"`) {
		t.Errorf("new file %q", data)
	}
	if len(r.Changes) == 0 || r.Diff != "" {
		t.Errorf("changes %v, diff %q (diff only in dry run)", r.Changes, r.Diff)
	}
}

// Each step's timing names the scripts it ran.
func TestStepTimingsNameTheirScripts(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", `{"experimental": true}`)
	n.experimental = true
	r := run(t, opts(addSettings()), n).Nodes[0]
	got := map[string]string{}
	for _, s := range r.Steps {
		got[s.Name] = strings.Join(s.Scripts, ",")
	}
	want := map[string]string{"lock": "", "re-read": "facts.sh", "check the unit's flags": "", "back up": "backup.sh", "write": "",
		"validate": "", "reload": "", "verify": "verify.sh"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("steps %v, want %v", got, want)
	}
}

func TestRestartPathWithValidate(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", `{"log-driver": "journald"}`)
	n.version = "27.3.1"
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Restarted || r.OldPID != 100 || r.NewPID != 101 {
		t.Fatalf("got %s (%s) pids %d->%d, want restarted 100->101", r.Outcome, r.Error, r.OldPID, r.NewPID)
	}
	want := []string{"facts", "facts", "backup", "/usr/sbin/dockerd --validate", "systemctl reset-failed", "systemctl restart", "verify"}
	if got := commands(n); !slices.Equal(got, want) {
		t.Errorf("commands %v, want %v", got, want)
	}
	if !n.experimental || len(n.mirrors) != 1 {
		t.Errorf("live state %v %v", n.mirrors, n.experimental)
	}
}

func TestRollbackAfterFailedRestore(t *testing.T) {
	cl := newCluster()
	orig := "{\n  \"storage-driver\": \"vfs\"\n}\n"
	n := newFakeNode(t, cl, "n1", orig)
	n.restartBreaks = true
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Failed || !r.RolledBack {
		t.Fatalf("got %s rolled back %v, want failed and rolled back", r.Outcome, r.RolledBack)
	}
	if got, _ := n.fh.File(n.cfg); got != orig {
		t.Errorf("file after rollback %q, want the original bytes %q", got, orig)
	}
	if !strings.Contains(r.Journal, "failed to start daemon") || !strings.Contains(r.Error, "restart") {
		t.Errorf("error %q journal %q", r.Error, r.Journal)
	}
	if !n.active {
		t.Error("daemon not running after rollback")
	}
	// reset-failed first: the failed start used up the unit's start limit.
	if ev := cl.Events(); !slices.Equal(ev, []string{"reset-failed n1", "restart n1", "reset-failed n1", "restart n1"}) {
		t.Errorf("events %v, want reset-failed before each restart, the rollback's included", ev)
	}
}

func TestRollbackAfterReloadNotAppliedAndMissingFile(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "")
	n.experimental, n.reloadIgnored = true, true
	o := opts(daemonjson.Settings{Mirrors: []string{mirror}})
	o.Timeout = time.Second
	rep := run(t, o, n)
	r := rep.Nodes[0]
	if r.Outcome != Failed || !r.RolledBack || !strings.Contains(r.Error, "verify") {
		t.Fatalf("got %s (%s), want failed verify rolled back", r.Outcome, r.Error)
	}
	if !slices.Contains(cl.Events(), "remove n1 /etc/docker/daemon.json") {
		t.Errorf("rollback of a missing file must remove it: events %v", cl.Events())
	}
}

func TestValidateFailureRollsBack(t *testing.T) {
	cl := newCluster()
	orig := `{"a": 1}`
	n := newFakeNode(t, cl, "n1", orig)
	n.version, n.validateFails = "24.0.0", true
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Failed || !strings.Contains(r.Error, "validate") {
		t.Fatalf("got %s %q", r.Outcome, r.Error)
	}
	if got, _ := n.fh.File(n.cfg); got != orig {
		t.Errorf("file %q", got)
	}
}

func TestInvalidJSONFailsWithPositionAndWritesNothing(t *testing.T) {
	cl := newCluster()
	bad := "{\n  \"log-driver\": \"journald\"\n  \"debug\": true\n}\n"
	n := newFakeNode(t, cl, "n1", bad)
	good := newFakeNode(t, cl, "n2", "{}")
	rep := run(t, opts(addSettings()), n, good)
	r := rep.Nodes[0]
	if r.Outcome != Failed || !strings.Contains(r.Error, "/etc/docker/daemon.json: line 3, column ") {
		t.Fatalf("got %s %q, want failed with path and line 3, column C", r.Outcome, r.Error)
	}
	if len(n.fh.Writes) != 0 || len(n.fh.Commands) != 1 {
		t.Errorf("writes %v commands %v", n.fh.Writes, commands(n))
	}
	if rep.Nodes[1].Outcome != Restarted {
		t.Errorf("other node: %s %s", rep.Nodes[1].Outcome, rep.Nodes[1].Error)
	}
	if !rep.Failed() || rep.Summary[Failed] != 1 || rep.Summary[Restarted] != 1 {
		t.Errorf("summary %v", rep.Summary)
	}
}

func TestConflictingFlagRefusedBeforeWriting(t *testing.T) {
	for name, setup := range map[string]func(n *fakeNode){
		"execstart": func(n *fakeNode) {
			n.execStart = "{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// --registry-mirror=https://old.example.com ; ignore_errors=no }"
		},
		"envfile": func(n *fakeNode) {
			n.execStart = "{ path=/usr/bin/dockerd-latest ; argv[]=/usr/bin/dockerd-latest $OPTIONS ; ignore_errors=no }"
			n.envOptions = "OPTIONS='--selinux-enabled --experimental'"
		},
	} {
		t.Run(name, func(t *testing.T) {
			cl := newCluster()
			n := newFakeNode(t, cl, "n1", "{}")
			setup(n)
			rep := run(t, opts(addSettings()), n)
			r := rep.Nodes[0]
			if r.Outcome != Failed || !strings.Contains(r.Error, "specified both as a flag and in the configuration file") {
				t.Fatalf("got %s %q", r.Outcome, r.Error)
			}
			if len(n.fh.Writes) != 0 || slices.Contains(commands(n), "backup") {
				t.Errorf("wrote or backed up: %v %v", n.fh.Writes, commands(n))
			}
		})
	}
}

func TestEnvVarNotExpandedIsNoConflict(t *testing.T) {
	// OPTIONS holds the flag but ExecStart never expands it.
	cs := findConflicts("{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ; x }", "OPTIONS=--registry-mirror https://x", []string{"registry-mirrors"})
	if len(cs) != 0 {
		t.Errorf("conflicts %v", cs)
	}
	cs = findConflicts("{ path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd ${OPTIONS} ; x }", `"OPTIONS=--log-level warn --insecure-registry 10.0.0.1:5000" OTHER=1`, []string{"registry-mirrors", "insecure-registries"})
	if len(cs) != 1 || cs[0].Key != "insecure-registries" || cs[0].Where != "$OPTIONS" {
		t.Errorf("conflicts %+v", cs)
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", `{"log-driver": "journald"}`)
	m := newFakeNode(t, cl, "n2", `{"experimental": true}`)
	m.experimental = true
	o := opts(addSettings())
	o.DryRun = true
	rep := run(t, o, n, m)
	if rep.Nodes[0].Outcome != WouldRestart || rep.Nodes[1].Outcome != WouldReload {
		t.Fatalf("outcomes %s %s", rep.Nodes[0].Outcome, rep.Nodes[1].Outcome)
	}
	if !strings.Contains(rep.Nodes[0].Diff, "/etc/docker/daemon.json") || len(rep.Nodes[0].Changes) == 0 {
		t.Errorf("diff %q changes %v", rep.Nodes[0].Diff, rep.Nodes[0].Changes)
	}
	for _, x := range []*fakeNode{n, m} {
		if len(x.fh.Commands) != 1 || x.locks != 0 || len(x.fh.Writes) != 0 {
			t.Errorf("%s: dry run ran %v, %d locks, wrote %v", x.fh.Name(), commands(x), x.locks, x.fh.Writes)
		}
	}
}

func TestRemoveLeavesExperimentalAlone(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", `{"registry-mirrors": ["https://mirror.example.com"], "experimental": true}`)
	n.mirrors, n.experimental = []string{mirror + "/"}, true
	rep := run(t, opts(daemonjson.Settings{Mirrors: []string{mirror}, Remove: true}), n)
	r := rep.Nodes[0]
	if r.Outcome != Reloaded {
		t.Fatalf("got %s %q, want reloaded", r.Outcome, r.Error)
	}
	data, _ := n.fh.File(n.cfg)
	if strings.Contains(data, "mirror.example.com") || !strings.Contains(data, `"experimental": true`) {
		t.Errorf("file %q", data)
	}
	if len(n.mirrors) != 0 || !n.experimental {
		t.Errorf("live %v %v", n.mirrors, n.experimental)
	}
}

func TestLockContention(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "{}")
	unlock, err := n.fh.Lock(context.Background(), lockName)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	rep := run(t, opts(addSettings()), n)
	if r := rep.Nodes[0]; r.Outcome != Failed || !strings.Contains(r.Error, "lock") {
		t.Fatalf("got %s %q", r.Outcome, r.Error)
	}
	if len(n.fh.Writes) != 0 {
		t.Errorf("wrote %v", n.fh.Writes)
	}
}

func TestChangedUnderLockByAnotherRun(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "{}")
	var once sync.Once
	inner := n.fh.Handler
	n.fh.Handler = func(h *fakehost.Host, c nodes.Cmd) (nodes.Output, error) {
		out, err := inner(h, c)
		// After phase A's read, another run writes the same change.
		once.Do(func() {
			h.SetFile(n.cfg, `{"registry-mirrors": ["https://mirror.example.com"], "experimental": true}`, 0o644)
			n.load(true) // and put it into effect, as that run does
		})
		return out, err
	}
	rep := run(t, opts(addSettings()), n)
	if r := rep.Nodes[0]; r.Outcome != Unchanged {
		t.Fatalf("got %s %q, want unchanged after re-reading under the lock", r.Outcome, r.Error)
	}
	if got := commands(n); !slices.Equal(got, []string{"facts", "facts"}) || len(n.fh.Writes) != 0 {
		t.Errorf("commands %v writes %v", got, n.fh.Writes)
	}
}

// A node's errors name it once: the report row (and the line printed
// from it) carries the name, so the error does not repeat it, even when
// the transport's error names the node (a held lock, a sudo password).
func TestNodeNamedOnceInItsError(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "{}")
	unlock, err := n.fh.Lock(context.Background(), lockName)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	r := run(t, opts(addSettings()), n).Nodes[0]
	if r.Outcome != Failed || r.Error != "lock: another swarmctl run holds the lock" {
		t.Errorf("got %s %q", r.Outcome, r.Error)
	}
	m := newFakeNode(t, cl, "m1", "{}")
	sudo := &nodes.SudoPasswordError{Host: "m1", User: "ops", Err: &nodes.ExitError{Host: "m1", Status: 1}}
	m.fh.Handler = func(*fakehost.Host, nodes.Cmd) (nodes.Output, error) { return nodes.Output{}, sudo }
	r = run(t, opts(addSettings()), m).Nodes[0]
	if !strings.HasPrefix(r.Error, "gathering facts: sudo needs a password for user ops") || strings.Contains(r.Error, "m1") {
		t.Errorf("error %q", r.Error)
	}
}

func TestBackupsKeepTheNewestFive(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "{}")
	n.experimental = true
	for i := 0; i < 7; i++ {
		o := opts(daemonjson.Settings{Mirrors: []string{mirror}, Remove: i%2 == 1})
		o.Now = func() time.Time { return time.Date(2025, 1, 1, 0, 0, i, 0, time.UTC) }
		if r := run(t, o, n).Nodes[0]; r.Outcome != Reloaded {
			t.Fatalf("run %d: %s %s", i, r.Outcome, r.Error)
		}
	}
	// The fake applies the keep count it is given: check swarmctl passes 5.
	if len(n.backups) != 5 || !strings.Contains(n.backups[4], "20250101T000006") {
		t.Errorf("backups %v", n.backups)
	}
}

func TestInsecureOnOldEngineRestartsInsteadOfReload(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", `{"experimental": true, "insecure-registries": ["10.0.0.9:5000"]}`)
	n.experimental = true
	rep := run(t, opts(addSettings()), n)
	if r := rep.Nodes[0]; r.Outcome != Restarted || !strings.Contains(r.Note, "drops insecure-registries") {
		t.Fatalf("got %s %q %q, want a restart on 20.10", r.Outcome, r.Error, r.Note)
	}
	for v, want := range map[string]bool{"20.10.24": true, "23.0.6": true, "23.0.7": false, "24.0.0": true, "24.0.1": false, "27.3.1": false, "": false} {
		if got := reloadDropsInsecure(v); got != want {
			t.Errorf("reloadDropsInsecure(%q) = %v", v, got)
		}
	}
}

// A file that already holds the wanted settings while the daemon does not
// use them (a run cut off after its write) is put into effect, not
// reported unchanged: the rerun converges.
func TestPendingFileIsApplied(t *testing.T) {
	for _, c := range []struct {
		name         string
		liveMirrors  []string
		experimental bool
		want         Outcome
	}{
		{"mirrors not loaded: reload", []string{}, true, Reloaded},
		{"experimental not loaded: restart", []string{mirror + "/"}, false, Restarted},
		{"all loaded: unchanged", []string{mirror + "/"}, true, Unchanged},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := newCluster()
			content := `{"registry-mirrors": ["` + mirror + `"], "experimental": true}`
			n := newFakeNode(t, cl, "n1", content)
			n.mirrors, n.experimental = c.liveMirrors, c.experimental
			rep := run(t, opts(addSettings()), n)
			r := rep.Nodes[0]
			if r.Outcome != c.want {
				t.Fatalf("got %s %q, want %s", r.Outcome, r.Error, c.want)
			}
			if got, _ := n.fh.File(n.cfg); got != content {
				t.Errorf("file changed: %q", got)
			}
			if c.want != Unchanged && !strings.Contains(r.Note, "was not using them") {
				t.Errorf("note %q", r.Note)
			}
			if c.want == Unchanged && len(n.fh.Writes) != 0 {
				t.Errorf("unchanged node written: %v", n.fh.Writes)
			}
		})
	}
}

func TestFailedWriteLeavesFileAndDockerAlone(t *testing.T) {
	cl := newCluster()
	orig := "{\n  \"storage-driver\": \"vfs\"\n}\n"
	n := newFakeNode(t, cl, "n1", orig)
	n.fh.WriteErr[n.cfg] = errors.New("write /etc/docker/.daemon.json.tmp: no space left on device")
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Failed || r.RolledBack {
		t.Fatalf("got %s rolled back %v, want failed without a rollback", r.Outcome, r.RolledBack)
	}
	if !strings.Contains(r.Error, "no space left on device") || !strings.Contains(r.Error, "daemon.json is unchanged") || strings.Contains(r.Error, "ROLLBACK FAILED") {
		t.Errorf("error %q", r.Error)
	}
	if got, _ := n.fh.File(n.cfg); got != orig {
		t.Errorf("file %q, want the original", got)
	}
	if ev := cl.Events(); len(ev) != 0 {
		t.Errorf("docker was touched: %v", ev)
	}
}

// A rollback that fails is reported in the error and as a failed
// "rollback" step (the JSON said ok: true before).
func TestFailedRollbackIsAFailedStep(t *testing.T) {
	cl := newCluster()
	// The old file names a mirror too: the fake daemon then refuses to
	// start with it as well, so the rollback's restart fails.
	orig := "{\n  \"registry-mirrors\": [\"https://old-mirror.example.com\"]\n}\n"
	n := newFakeNode(t, cl, "n1", orig)
	n.restartBreaks = true
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Failed || r.RolledBack || !strings.Contains(r.Error, "ROLLBACK FAILED") {
		t.Fatalf("got %s rolled back %v error %q", r.Outcome, r.RolledBack, r.Error)
	}
	var found bool
	for _, s := range r.Steps {
		if s.Name == "rollback" {
			found = true
			if s.OK {
				t.Error("rollback step ok although the rollback failed")
			}
		}
	}
	if !found {
		t.Errorf("no rollback step in %+v", r.Steps)
	}
}

// A write that failed says once that the file is unchanged.
func TestFailedWriteSaysUnchangedOnce(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "{}\n")
	// As the SSH transport reports it.
	n.fh.WriteErr[n.cfg] = fmt.Errorf("write /etc/docker/daemon.json: no space left on device (%w)", nodes.ErrFileUnchanged)
	r := run(t, opts(addSettings()), n).Nodes[0]
	if strings.Count(r.Error, "unchanged") != 1 {
		t.Errorf("error %q", r.Error)
	}
	for _, s := range r.Steps {
		if s.Name == "rollback" && !s.OK {
			t.Error("nothing to roll back, yet the rollback step failed")
		}
	}
}

// A node restarted shortly before (its start limit used up) is still
// restarted when the operator asks: swarmctl clears the counter first
// instead of stopping dockerd into "start ... attempted too often".
func TestRestartClearsStartLimit(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "{}\n")
	n.startLimited = true
	r := run(t, opts(addSettings()), n).Nodes[0]
	if r.Outcome != Restarted {
		t.Fatalf("%s %q", r.Outcome, r.Error)
	}
	if ev := cl.Events(); !slices.Equal(ev, []string{"reset-failed n1", "restart n1"}) {
		t.Errorf("events %v", ev)
	}
}

// A step that never ends (systemctl restart hung on one node) fails that
// node with the step named once its deadline passes (here --step-timeout),
// the change is rolled back there, and the other node is done.
func TestHungStepFailsThatNodeOnly(t *testing.T) {
	cl := newCluster()
	a := newFakeNode(t, cl, "a", "{}")
	b := newFakeNode(t, cl, "b", "{}")
	a.hangOnce = "restart"
	a.fh.Cancellable = true // as the SSH transport
	o := opts(addSettings())
	ctx := nodes.WithStepTimeout(context.Background(), 300*time.Millisecond)
	start := time.Now()
	rep := Run(ctx, []*member.Member{connected("a", a.Host()), connected("b", b.Host())}, o)
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("took %s", d)
	}
	ra, rb := rep.Nodes[0], rep.Nodes[1]
	if ra.Outcome != Failed || !strings.HasPrefix(ra.Error, "restart: no answer within 300ms (--step-timeout)") || !ra.RolledBack {
		t.Errorf("a: %s %q rolled back %v", ra.Outcome, ra.Error, ra.RolledBack)
	}
	if rb.Outcome != Restarted {
		t.Errorf("b: %s %q", rb.Outcome, rb.Error)
	}
	if got, _ := a.fh.File("/etc/docker/daemon.json"); got != "{}" {
		t.Errorf("a's daemon.json %q, want the old file back", got)
	}
}

// Without --step-timeout each remote step has a deadline that fits it.
func TestStepDeadlineDefaults(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "a", "{}")
	n.version = "24.0.7" // has dockerd --validate
	o := opts(addSettings())
	o.Timeout = 20 * time.Second
	rep := run(t, o, n)
	if r := rep.Nodes[0]; r.Outcome != Restarted {
		t.Fatalf("%s %q", r.Outcome, r.Error)
	}
	now := time.Now()
	want := map[string]time.Duration{
		"facts":    nodes.DefaultStepTimeout,
		"back up":  nodes.DefaultStepTimeout,
		"validate": nodes.DefaultStepTimeout,
		"restart":  5 * time.Minute,
		"verify":   o.Timeout + nodes.StepMargin,
	}
	seen := map[string]bool{}
	for i, c := range n.fh.Commands {
		var step string
		switch {
		case c.Script.Name() == "facts.sh":
			step = "facts"
		case c.Script == backupScript:
			step = "back up"
		case len(c.Args) > 1 && c.Args[1] == "--validate":
			step = "validate"
		case len(c.Args) == 3 && c.Args[0] == "systemctl" && c.Args[1] == "restart":
			step = "restart"
		case c.Script == verifyScript:
			step = "verify"
		default:
			continue
		}
		seen[step] = true
		left := n.fh.Deadlines[i].Sub(now)
		if n.fh.Deadlines[i].IsZero() || left > want[step] || left < want[step]-5*time.Second {
			t.Errorf("%s ran with %s left, want about %s", step, left.Round(time.Second), want[step])
		}
	}
	if len(seen) != len(want) {
		t.Errorf("steps seen %v", seen)
	}
}

// A daemon.json over nodes.MaxDaemonJSON is refused with a clear error:
// nothing is written, nothing restarted; state says why.
func TestHugeDaemonJSONRefused(t *testing.T) {
	n := newFakeNode(t, newCluster(), "a", "{}")
	n.tooLarge = 300 << 20
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	want := "/etc/docker/daemon.json is 314572800 bytes, over the 1024 KiB swarmctl reads"
	if r.Outcome != Failed || !strings.Contains(r.Error, want) || len(n.fh.Writes) != 0 || n.pid != 100 {
		t.Errorf("%s %q writes %v pid %d", r.Outcome, r.Error, n.fh.Writes, n.pid)
	}
	f, _ := member.ParseFacts([]byte(n.facts()))
	if st := member.Evaluate(f, []string{mirror}, true); !strings.Contains(st.FileError, want) || st.Configured {
		t.Errorf("state %+v", st)
	}
}

// A write that failed restarts nothing: docker was never touched, so
// nothing is reloaded or restarted whatever the file then holds. Here
// daemon.json is a symbolic link loop: the facts see no file, the write
// fails, the file cannot be read back; it is left as it is (the link is
// not removed) and docker keeps running.
func TestFailedWriteRestartsNothing(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "")
	loop := errors.New("open /etc/docker/daemon.json: too many levels of symbolic links")
	n.fh.WriteErr[n.cfg], n.fh.ReadErr[n.cfg] = loop, loop
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Failed || r.RolledBack || !strings.Contains(r.Error, "left as it is") || !strings.Contains(r.Error, "docker was not reloaded or restarted") {
		t.Errorf("got %s rolled back %v %q", r.Outcome, r.RolledBack, r.Error)
	}
	if ev := cl.Events(); len(ev) != 0 {
		t.Errorf("after a failed write: %v", ev)
	}
}

// A write that failed after the new file landed (the answer lost): the
// old file is put back, and docker, never touched, is not restarted.
func TestFailedWriteThatLandedIsUndoneWithoutARestart(t *testing.T) {
	cl := newCluster()
	orig := "{\n  \"storage-driver\": \"vfs\"\n}\n"
	n := newFakeNode(t, cl, "n1", orig)
	n.fh.WriteErrAfter[n.cfg] = errors.New("connection lost while running mv (no exit status)")
	rep := run(t, opts(addSettings()), n)
	r := rep.Nodes[0]
	if r.Outcome != Failed || !r.RolledBack || !strings.Contains(r.Error, "docker was not reloaded or restarted") {
		t.Errorf("got %s rolled back %v %q", r.Outcome, r.RolledBack, r.Error)
	}
	if got, _ := n.fh.File(n.cfg); got != orig {
		t.Errorf("file %q, want the original back", got)
	}
	if ev := cl.Events(); len(ev) != 0 {
		t.Errorf("docker was touched: %v", ev)
	}
}

// The same holds for a file dockerd --validate refuses: it is put back,
// and docker, which never read it, is not restarted for it.
func TestValidateFailureRestartsNothing(t *testing.T) {
	cl := newCluster()
	n := newFakeNode(t, cl, "n1", "{}")
	n.version, n.validateFails = "24.0.0", true
	rep := run(t, opts(addSettings()), n)
	if r := rep.Nodes[0]; r.Outcome != Failed || !r.RolledBack {
		t.Errorf("got %s rolled back %v %q", r.Outcome, r.RolledBack, r.Error)
	}
	if ev := cl.Events(); len(ev) != 0 {
		t.Errorf("docker was touched for a file it never read: %v", ev)
	}
}
