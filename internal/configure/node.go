package configure

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/swarmctl/swarmctl/internal/certsd"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/textdiff"
)

// action is how a node's new daemon.json is put into effect.
type action int

const (
	actNone action = iota // nothing to do, or write only
	actReload
	actRestart
)

func (a action) verb() string {
	switch a {
	case actReload:
		return "reload"
	case actRestart:
		return "restart"
	}
	return ""
}

// lockName is the remote lock every configure run takes on a node.
const lockName = "configure"

// nodeRun is one node's way through a run: planned in phase A, applied in
// phase B as a sequence of named steps.
type nodeRun struct {
	o     *Options
	node  *member.Member
	h     nodes.Host
	own   bool // we dialled h: close it at the end
	start time.Time

	f      *member.Facts
	merged daemonjson.Result
	// settings are the run's Settings with this node's mirrors;
	// files its certs.d changes (Options.ForNode).
	settings daemonjson.Settings
	files    certsd.Plan
	act      action
	res      NodeResult
	done     bool // outcome known (unchanged, failed, dry run)
	// pending: the file already holds the wanted settings but the running
	// daemon does not use them (an earlier run was cut off after its
	// write): put them into effect without changing the file.
	pending bool

	// Set while applying.
	oldBytes    []byte
	wasMissing  bool
	written     bool
	writeFailed bool
	activated   bool // the reload/restart step ran: docker may use the new file
	filesDone   []certsd.Op
	drained     bool
	swarmAvail  string // availability before --drain
	// swarmID is the node's swarm node ID as the swarm guard confirmed it
	// from a manager's list ("" until then): the ID drained, waited for
	// and made active again, never the node's own unchecked claim.
	swarmID string
	// replicas are the mirror replicas the node runs (NodeWant.Replicas);
	// replicaDown: one did not answer again after the restart.
	replicas    []string
	replicaDown bool
}

// fail ends the node as failed. The result is reported under the node's
// name, so the error does not repeat it.
func (r *nodeRun) fail(err error) {
	r.res.Outcome, r.res.Error, r.done = Failed, nodes.Unnamed(r.node.Name, err).Error(), true
}

// plan is phase A: connect, gather facts (one command), merge in memory
// and decide what to do. The unchanged path ends here.
func (r *nodeRun) plan(ctx context.Context) {
	r.start = r.o.Now()
	r.res = NodeResult{Name: r.node.Name, Address: r.node.Address(), Changes: []daemonjson.Change{}}
	if r.h == nil && r.node.Err != nil {
		// Not reached (or never to be dialled) when the caller connected.
		r.fail(r.node.Err)
		return
	}
	if r.h == nil {
		h, err := r.node.Dial(ctx)
		if err != nil {
			r.fail(err)
			return
		}
		r.h, r.own = h, true
	}
	f := r.node.Facts
	if f == nil {
		var err error
		if f, err = member.GatherFacts(ctx, r.h, r.o.Service, r.o.DaemonJSON); err != nil {
			r.fail(fmt.Errorf("gathering facts: %w", err))
			return
		}
	}
	if err := r.decide(f); err != nil {
		r.fail(err)
		return
	}
	if !r.merged.Changed && !r.pending && !r.files.Changed() {
		r.res.Outcome, r.done = Unchanged, true
		return
	}
	if r.o.DryRun {
		if r.merged.Changed {
			r.res.Diff = textdiff.Unified(r.f.DaemonJSONPath, r.f.DaemonJSONPath+" (swarmctl)", r.f.DaemonJSON, r.merged.Bytes, 3)
		}
		for i := range r.res.Files {
			r.res.Files[i].Diff = r.files.Ops[i].UnifiedDiff()
		}
		if err := r.checkConflicts(); err != nil {
			r.fail(err)
			return
		}
		r.res.Outcome, r.done = map[action]Outcome{actNone: WouldWrite, actReload: WouldReload, actRestart: WouldRestart}[r.act], true
		if r.filesOnly() {
			r.res.Outcome = WouldUpdate
		}
	}
}

// decide merges the wanted settings into the node's file and picks the
// action. It is pure: called in phase A and again under the lock.
func (r *nodeRun) decide(f *member.Facts) error {
	r.f = f
	r.res.Path, r.res.Service, r.res.Role, r.res.OldPID = f.DaemonJSONPath, f.Service, f.Role(), f.DaemonPID
	if f.Service == "" {
		return errors.New("no docker service found (docker-latest.service or docker.service); use --service")
	}
	r.settings = r.o.Settings
	var want *NodeWant
	if r.o.ForNode != nil {
		w, err := r.o.ForNode(r.node, f)
		if err != nil {
			return err
		}
		if w.Mirrors != nil {
			r.settings.Mirrors = w.Mirrors
		}
		want = &w
	}
	m, err := mergeFile(f, r.settings)
	if err != nil {
		return err
	}
	r.merged = m
	r.files = certsd.Plan{}
	r.res.Files, r.res.FileWarnings, r.res.Registries = nil, nil, nil
	if want != nil {
		r.res.Registries, r.replicas = want.Registries, want.Replicas
	}
	if want != nil && want.SkipCertsD {
		r.res.FileWarnings = []string{"docker did not answer, so whether it reads hosts.toml is unknown: " + hoststoml.CertsDir + " left as it is"}
	}
	if want != nil && !want.SkipCertsD {
		dj := &hoststoml.DaemonJSON{}
		dj.Mirrors, _ = daemonjson.ReadMirrors(m.Bytes)
		for _, v := range gjson.GetBytes(m.Bytes, "insecure-registries").Array() {
			dj.Insecure = append(dj.Insecure, v.String())
		}
		for i := range want.CertsD.Hosts {
			want.CertsD.Hosts[i].DaemonJSON = dj
			want.CertsD.Hosts[i].Engine = f.DockerVersion
		}
		p, err := certsd.Build(f.CertsD, want.CertsD)
		if err != nil {
			return fmt.Errorf("certs.d: %w (nothing changed on this node)", err)
		}
		r.files = p
		r.res.Files = slices.Clone(p.Ops)
		r.res.FileWarnings = p.Warnings
	}
	r.res.Changes = m.Changes
	if r.res.Changes == nil {
		r.res.Changes = []daemonjson.Change{}
	}
	r.pending = false
	if !m.Changed {
		r.act = r.pendingAction(f, m.Bytes)
		if r.act == actNone {
			return nil
		}
		r.pending = true
		r.res.Note = "daemon.json already had these settings but dockerd was not using them (an earlier run was interrupted after writing?): " + r.act.verb() + "ed to apply them"
		return nil
	}
	switch r.o.Apply {
	case ApplyNone:
		r.act = actNone
	case ApplyReload:
		r.act = actReload
	case ApplyRestart:
		r.act = actRestart
	default:
		r.act = actRestart
		if m.ReloadOnly {
			r.act = actReload
			if gjson.GetBytes(m.Bytes, "insecure-registries.#").Int() > 0 && reloadDropsInsecure(f.DockerVersion) {
				// The reload would silently drop insecure-registries.
				r.act = actRestart
				r.res.Note = "restarted instead of reloaded: Docker " + f.DockerVersion + " drops insecure-registries on a reload"
			}
		}
	}
	if r.act != actNone && !f.ServiceActive {
		return fmt.Errorf("%s.service is not active: start it first, or write only with --apply none", f.Service)
	}
	return nil
}

// pendingAction tells how to put a file that already holds the wanted
// settings into effect when the running daemon reports other mirrors (or
// another "experimental") than the file: actNone when they agree, when
// docker did not answer, or with --apply none.
func (r *nodeRun) pendingAction(f *member.Facts, file []byte) action {
	if r.o.Apply == ApplyNone || !f.ServiceActive || f.DockerError != "" {
		return actNone
	}
	act := actNone
	fileMirrors, err := daemonjson.ReadMirrors(file)
	if err != nil {
		return actNone
	}
	if !sameMirrorSet(fileMirrors, f.LiveMirrors) {
		act = actReload
	}
	if r.settings.Experimental != nil {
		if v, present, err := daemonjson.ReadExperimental(file); err == nil && present && v != f.LiveExperimental {
			act = actRestart
		}
	}
	switch {
	case act == actNone:
	case r.o.Apply == ApplyReload:
		act = actReload
	case r.o.Apply == ApplyRestart:
		act = actRestart
	case act == actReload && gjson.GetBytes(file, "insecure-registries.#").Int() > 0 && reloadDropsInsecure(f.DockerVersion):
		act = actRestart
	}
	return act
}

func sameMirrorSet(a, b []string) bool {
	set := map[string]bool{}
	for _, m := range a {
		set[daemonjson.NormalizeMirror(m)] = true
	}
	seen := map[string]bool{}
	for _, m := range b {
		n := daemonjson.NormalizeMirror(m)
		if !set[n] {
			return false
		}
		seen[n] = true
	}
	return len(seen) == len(set)
}

// mergeFile merges s into f's daemon.json in memory; an error names the
// file and, for a syntax error, the line and column.
func mergeFile(f *member.Facts, s daemonjson.Settings) (daemonjson.Result, error) {
	if f.DaemonJSONTooLarge {
		return daemonjson.Result{}, f.TooLargeError()
	}
	current := f.DaemonJSON
	if !f.DaemonJSONExists {
		current = nil
	}
	m, err := daemonjson.Merge(current, s)
	if err != nil {
		var se *daemonjson.SyntaxError
		if errors.As(err, &se) {
			return m, fmt.Errorf("%s: line %d, column %d: %s (nothing written; fix the file by hand)", f.DaemonJSONPath, se.Line, se.Column, se.Msg)
		}
		return m, fmt.Errorf("%s: %w", f.DaemonJSONPath, err)
	}
	return m, nil
}

// writtenKeys are the keys a file merged with s sets that dockerd also
// has flags for.
func writtenKeys(s daemonjson.Settings) []string {
	keys := []string{"registry-mirrors"}
	if s.Insecure {
		keys = append(keys, "insecure-registries")
	}
	if s.Experimental != nil {
		keys = append(keys, "experimental")
	}
	return keys
}

// unitConflicts is the error for dockerd flags in f's unit that set a key
// s writes (nil when there are none).
func unitConflicts(f *member.Facts, s daemonjson.Settings) error {
	if cs := findConflicts(f.ExecStart, f.EnvOptions, writtenKeys(s)); len(cs) > 0 {
		return conflictError(f.Service, cs)
	}
	return nil
}

func (r *nodeRun) checkConflicts() error {
	if !r.merged.Changed && !r.pending {
		return nil // daemon.json is not written
	}
	return unitConflicts(r.f, r.settings)
}

// filesOnly: only certs.d files change; dockerd reads them at each pull,
// so nothing is reloaded or restarted.
func (r *nodeRun) filesOnly() bool { return !r.merged.Changed && !r.pending && r.files.Changed() }

// Preview is what a configure run would find on a node, read-only, from
// its facts (the same checks the run makes): the changes to its
// daemon.json, or why the file cannot be merged (with line and column),
// and the dockerd flags in its unit that would stop dockerd from starting.
func Preview(f *member.Facts, s daemonjson.Settings) (changes []daemonjson.Change, fileErr, unitErr error) {
	m, fileErr := mergeFile(f, s)
	return m.Changes, fileErr, unitConflicts(f, s)
}

// step is one named part of applying a change.
type step struct {
	name string
	fn   func(ctx context.Context) error
}

// apply is phase B for one node: lock, re-read, check, back up, write,
// validate, reload/restart, verify; any failure after the write rolls
// back. g, when set, guards a restart (quorum check, drain, wait Ready).
func (r *nodeRun) apply(ctx context.Context, g guard) {
	if r.done {
		return
	}
	if r.h == nil { // released after phase A (see Run)
		h, err := r.node.Dial(ctx)
		if err != nil {
			r.fail(fmt.Errorf("connecting again for the change: %w", err))
			return
		}
		r.h = h
	}
	var unlock func()
	err := r.timed(ctx, "lock", func(ctx context.Context) (err error) { unlock, err = r.lock(ctx); return err })
	if err != nil {
		r.fail(err)
		return
	}
	defer unlock()
	if err := r.timed(ctx, "re-read", r.refresh); err != nil {
		r.fail(err)
		return
	}
	if r.done { // someone else already made the change
		return
	}
	guarded := g != nil && r.act == actRestart && !r.filesOnly()
	steps := []step{{"check the unit's flags", func(context.Context) error { return r.checkConflicts() }}}
	if guarded {
		steps = append(steps, step{"check the swarm", func(ctx context.Context) error { return g.before(ctx, r) }})
	}
	if r.files.Changed() {
		steps = append(steps, step{"certs.d", r.writeFiles})
	}
	if !r.filesOnly() {
		steps = append(steps,
			step{"back up", r.backup},
			step{"write", r.write},
			step{"validate", r.validate},
			step{r.act.verb(), r.activate},
			step{"verify", r.verify},
		)
	}
	var failErr error
	for _, s := range steps {
		if s.name == "" {
			continue
		}
		if err := ctx.Err(); err != nil {
			failErr = fmt.Errorf("interrupted before %s: %w", s.name, err)
			break
		}
		if err := r.timed(ctx, s.name, s.fn); err != nil {
			failErr = stepFailed(s.name, err)
			break
		}
	}
	if failErr != nil && r.written {
		_ = r.timed(ctx, "rollback", func(ctx context.Context) error {
			var rbErr error
			failErr, rbErr = r.rollback(ctx, failErr)
			return rbErr // the step is not ok only when the rollback itself failed
		})
	}
	if failErr != nil && len(r.filesDone) > 0 && ctx.Err() == nil {
		_ = r.timed(ctx, "certs.d rollback", func(ctx context.Context) error {
			if err := certsd.Undo(ctx, r.h, r.filesDone); err != nil {
				failErr = fmt.Errorf("%w; putting the certs.d files back FAILED, check the node by hand: %v", failErr, err)
				return err
			}
			failErr = fmt.Errorf("%w; certs.d files put back as they were", failErr)
			return nil
		})
	}
	if guarded {
		// Wait for the node to be back in the swarm (only if it was
		// restarted), and always undo a drain.
		if err := r.timed(ctx, "swarm wait", func(ctx context.Context) error { return g.after(ctx, r, r.written) }); err != nil && failErr == nil {
			failErr = err
		}
	}
	if failErr == nil {
		failErr = r.afterRestart(ctx)
	}
	if failErr != nil {
		r.fail(failErr)
		return
	}
	r.res.Outcome, r.done = map[action]Outcome{actNone: Written, actReload: Reloaded, actRestart: Restarted}[r.act], true
	if r.filesOnly() {
		r.res.Outcome = Updated
	}
}

// writeFiles makes the node's certs.d changes (undone on a failure).
func (r *nodeRun) writeFiles(ctx context.Context) error {
	ts := r.o.Now().UTC().Format("20060102T150405.000Z")
	done, err := certsd.Apply(ctx, r.h, r.files, ts)
	r.filesDone = done
	return err
}

// stepFailed names the step in its error, once: a step deadline's error
// names it already.
func stepFailed(name string, err error) error {
	var te *nodes.StepTimeoutError
	if errors.As(err, &te) && te.Step == name && err.Error() == te.Error() {
		return err
	}
	return fmt.Errorf("%s: %w", name, err)
}

// remote runs fn bounded as the step name (nodes.Step with the step's
// budget), for the remote commands of the rollback.
func (r *nodeRun) remote(ctx context.Context, name string, fn func(context.Context) error) error {
	sctx, cancel := nodes.Step(ctx, name, r.o.stepBudget(name))
	defer cancel()
	return fn(sctx)
}

// timed runs fn, bounded as the step name (nodes.Step with the step's
// budget; the rollback's commands have their own), and records how long
// it took and which scripts it ran (on this node or on a manager asked
// about it).
func (r *nodeRun) timed(ctx context.Context, name string, fn func(context.Context) error) error {
	if name != "rollback" {
		var cancel context.CancelFunc
		ctx, cancel = nodes.Step(ctx, name, r.o.stepBudget(name))
		defer cancel()
	}
	t0 := r.o.Now()
	ctx, scripts := nodes.WithScriptLog(ctx)
	err := fn(ctx)
	r.res.Steps = append(r.res.Steps, StepTime{Name: name, MS: r.o.Now().Sub(t0).Milliseconds(), OK: err == nil, Scripts: scripts()})
	return err
}

// lock takes the node's remote lock when the transport offers one.
func (r *nodeRun) lock(ctx context.Context) (func(), error) {
	l, ok := r.h.(nodes.Locker)
	if !ok {
		return func() {}, nil
	}
	unlock, err := l.Lock(ctx, lockName)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	return func() { _ = unlock() }, nil
}

// refresh re-reads the node under the lock: another run may have changed
// the file since phase A.
func (r *nodeRun) refresh(ctx context.Context) error {
	f, err := member.GatherFacts(ctx, r.h, r.o.Service, r.o.DaemonJSON)
	if err != nil {
		return fmt.Errorf("re-reading facts under the lock: %w", err)
	}
	planned := r.act
	if err := r.decide(f); err != nil {
		return err
	}
	if !r.merged.Changed && !r.pending && !r.files.Changed() {
		r.res.Outcome, r.done = Unchanged, true
		return nil
	}
	if planned == actReload && r.act == actRestart {
		return errors.New("daemon.json changed since planning and now needs a restart; run again so the restart is ordered safely")
	}
	if r.act == actReload && r.o.Apply == ApplyReload && !r.merged.ReloadOnly {
		r.res.Note = "experimental takes effect at the next restart (reload does not apply it)"
	}
	r.oldBytes, r.wasMissing = f.DaemonJSON, !f.DaemonJSONExists
	return nil
}

func (r *nodeRun) backup(ctx context.Context) error {
	ts := r.o.Now().UTC().Format("20060102T150405.000Z")
	out, err := r.h.Run(ctx, nodes.Cmd{Script: backupScript, ScriptArgs: []string{r.f.DaemonJSONPath, ts, strconv.Itoa(r.o.KeepBackups)}, Sudo: true})
	if err != nil {
		return err
	}
	b := strings.TrimSpace(string(out.Stdout))
	if b == "missing" {
		r.wasMissing = true
		return nil
	}
	r.res.Backup = b
	return nil
}

func (r *nodeRun) write(ctx context.Context) error {
	// Set first: a failed write may still have replaced the file.
	r.written = true
	err := r.h.WriteFile(ctx, r.f.DaemonJSONPath, r.merged.Bytes, 0o644)
	r.writeFailed = err != nil
	return err
}

// validate runs `dockerd --validate` (Docker >= 23) on the new file.
func (r *nodeRun) validate(ctx context.Context) error {
	if !r.f.ValidateSupported {
		return nil
	}
	bin := execPath(r.f.ExecStart)
	if !strings.Contains(path.Base(bin), "dockerd") {
		bin = "dockerd"
	}
	_, err := r.h.Run(ctx, nodes.Cmd{Args: []string{bin, "--validate", "--config-file", r.f.DaemonJSONPath}, Sudo: true})
	return err
}

func (r *nodeRun) activate(ctx context.Context) error {
	if r.act == actNone {
		return nil
	}
	r.activated = true
	if r.act == actRestart {
		// Docker's units allow 3 starts in 60 s (StartLimitBurst): a node
		// restarted shortly before (an earlier run, an undo) would have
		// this restart refused after dockerd was already stopped. The
		// operator asked for this one restart: clear the counter first.
		_, _ = r.h.Run(ctx, nodes.Cmd{Args: []string{"systemctl", "reset-failed", r.f.Service + ".service"}, Sudo: true})
	}
	_, err := r.h.Run(ctx, nodes.Cmd{Args: []string{"systemctl", r.act.verb(), r.f.Service + ".service"}, Sudo: true})
	return err
}

// verifyResult is verifyScript's last line.
type verifyResult struct {
	active       bool
	pid          int
	mirrors      []string
	mirrorsRaw   string
	experimental string
	swarm        string
}

// VerifyOutput is the line verifyScript prints for a daemon in this state
// (mirrors as `docker info` reports them; swarm is the local node state):
// test fakes and the benchmark's virtual nodes answer with it.
func VerifyOutput(active bool, pid int, mirrors []string, experimental bool, swarm string) string {
	st := "inactive"
	if active {
		st = "active"
	}
	m, _ := json.Marshal(mirrors)
	return fmt.Sprintf("%s|%d|%s|%t|%s\n", st, pid, m, experimental, swarm)
}

func parseVerify(out string) verifyResult {
	p := strings.Split(strings.TrimSpace(out), "|")
	for len(p) < 5 {
		p = append(p, "")
	}
	v := verifyResult{active: p[0] == "active", mirrorsRaw: p[2], experimental: p[3], swarm: p[4]}
	v.pid, _ = strconv.Atoi(p[1])
	_ = json.Unmarshal([]byte(p[2]), &v.mirrors)
	return v
}

// waitDaemon runs verifyScript: one command that loops on the node.
func (r *nodeRun) waitDaemon(ctx context.Context, wantMirrors, wantExp string, swarm bool) (verifyResult, error) {
	sw := ""
	if swarm {
		sw = "swarm"
	}
	out, err := r.h.Run(ctx, nodes.Cmd{Script: verifyScript, ScriptArgs: []string{r.f.Service, wantMirrors, wantExp, sw, r.o.timeoutSecs()}, Sudo: true})
	if err != nil {
		return verifyResult{}, err
	}
	return parseVerify(string(out.Stdout)), nil
}

// verify waits until the daemon runs with the new settings.
func (r *nodeRun) verify(ctx context.Context) error {
	if r.act == actNone {
		return nil
	}
	want, err := daemonjson.ReadMirrors(r.merged.Bytes)
	if err != nil {
		return err
	}
	wantJSON := dockerMirrorsJSON(want)
	wantExp := ""
	if r.act == actRestart {
		if v, present, err := daemonjson.ReadExperimental(r.merged.Bytes); err == nil && present {
			wantExp = strconv.FormatBool(v)
		}
	}
	swarm := r.act == actRestart && r.f.SwarmState == "active"
	v, err := r.waitDaemon(ctx, wantJSON, wantExp, swarm)
	if err != nil {
		return err
	}
	r.res.NewPID = v.pid
	switch {
	case !v.active:
		return fmt.Errorf("%s.service is not active after %s", r.f.Service, r.o.Timeout)
	case !sameMirrors(v.mirrors, want):
		return fmt.Errorf("the daemon reports mirrors %s, want %s (after %s)", dash(v.mirrorsRaw), wantJSON, r.o.Timeout)
	case wantExp != "" && v.experimental != wantExp:
		return fmt.Errorf("the daemon reports experimental=%s, want %s", dash(v.experimental), wantExp)
	case swarm && v.swarm != "active":
		return fmt.Errorf("local swarm state is %q, not active, %s after the restart", v.swarm, r.o.Timeout)
	}
	return nil
}

// rollback puts the old file back (or removes a file that did not exist),
// reloads/restarts the same way and checks the daemon is up. The journal
// tail goes into the result to show why the new config failed.
func (r *nodeRun) rollback(ctx context.Context, cause error) (result, rollbackErr error) {
	if ctx.Err() != nil {
		// Interrupted: the file is whole (old or new); leave it, the
		// change is pending until the next run.
		return fmt.Errorf("%w (interrupted: daemon.json may hold the new settings, not yet applied)", cause), nil
	}
	if r.writeFailed {
		return r.afterFailedWrite(ctx, cause)
	}
	r.remote(ctx, "journal", func(ctx context.Context) error { r.res.Journal = r.journal(ctx); return nil }) //nolint:errcheck
	err := r.remote(ctx, "restore", r.restore)
	// Docker is reloaded or restarted again only when the step that put
	// the new file into effect ran; otherwise it never read that file.
	if err == nil && r.activated {
		// activate clears the unit's start limit before a restart: the
		// failed start and systemd's own Restart= attempts count against
		// it, and the rollback's restart would be refused ("start of the
		// service was attempted too often"), leaving docker down.
		err = r.remote(ctx, r.act.verb(), r.activate)
	}
	if err == nil && r.act != actNone && r.activated {
		var v verifyResult
		err = r.remote(ctx, "verify", func(ctx context.Context) (err error) {
			v, err = r.waitDaemon(ctx, "", "", false)
			return err
		})
		if err == nil && !v.active {
			err = fmt.Errorf("%s.service is not active", r.f.Service)
		}
		r.res.NewPID = v.pid
	}
	if err != nil {
		return fmt.Errorf("%w; ROLLBACK FAILED, check the node by hand: %v", cause, err), err
	}
	r.res.RolledBack = true
	return fmt.Errorf("%w; rolled back to the previous daemon.json", cause), nil
}

func (r *nodeRun) journal(ctx context.Context) string {
	out, err := r.h.Run(ctx, nodes.Cmd{Args: []string{"journalctl", "-u", r.f.Service + ".service", "--no-pager", "-n", "20"}, Sudo: true})
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(out.Stdout), "\n")
}

// dockerMirrorsJSON is how `docker info` prints mirrors: dockerd stores
// each with exactly one trailing slash.
func dockerMirrorsJSON(ms []string) string {
	d := make([]string, len(ms))
	for i, m := range ms {
		d[i] = strings.TrimRight(m, "/") + "/"
	}
	b, _ := json.Marshal(d)
	return string(b)
}

func sameMirrors(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if daemonjson.NormalizeMirror(a[i]) != daemonjson.NormalizeMirror(b[i]) {
			return false
		}
	}
	return true
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// reloadDropsInsecure reports whether a dockerd version loses
// insecure-registries on a reload when registry-mirrors is also set
// (fixed in 23.0.7 and 24.0.1).
func reloadDropsInsecure(version string) bool {
	var v [3]int
	for i, p := range strings.SplitN(strings.SplitN(version, "-", 2)[0], ".", 3) {
		v[i], _ = strconv.Atoi(p)
	}
	switch {
	case v[0] == 0:
		return false // unknown: trust the reload
	case v[0] < 23:
		return true
	case v[0] == 23:
		return v[1] == 0 && v[2] < 7
	case v[0] == 24:
		return v[1] == 0 && v[2] < 1
	}
	return false
}

// restore puts the old daemon.json back (removes the file when there was
// none).
func (r *nodeRun) restore(ctx context.Context) error {
	if r.wasMissing {
		_, err := r.h.Run(ctx, nodes.Cmd{Script: removeScript, ScriptArgs: []string{r.f.DaemonJSONPath}, Sudo: true})
		return err
	}
	return r.h.WriteFile(ctx, r.f.DaemonJSONPath, r.oldBytes, 0o644)
}

// afterFailedWrite ends a node whose write step failed. Docker was never
// reloaded or restarted, so nothing is: the node's file is read back and
// put back to the old one only when it is known to hold the new one (the
// write replaced it, then its answer was lost); a file that is unchanged,
// or cannot be read back (a symbolic link loop), is left as it is.
func (r *nodeRun) afterFailedWrite(ctx context.Context, cause error) (result, rollbackErr error) {
	var cur []byte
	var rerr error
	r.remote(ctx, "read back", func(ctx context.Context) error { cur, rerr = r.h.ReadFile(ctx, r.f.DaemonJSONPath); return nil }) //nolint:errcheck
	switch {
	case r.wasMissing && errors.Is(rerr, fs.ErrNotExist), !r.wasMissing && rerr == nil && bytes.Equal(cur, r.oldBytes):
		// The write failed before replacing the file (full disk, a cut
		// upload): nothing to roll back.
		if errors.Is(cause, nodes.ErrFileUnchanged) {
			return cause, nil // the write's own error already says so
		}
		return fmt.Errorf("%w (daemon.json is unchanged)", cause), nil
	case rerr == nil && bytes.Equal(cur, r.merged.Bytes):
		if err := r.remote(ctx, "restore", r.restore); err != nil {
			return fmt.Errorf("%w; ROLLBACK FAILED, check the node by hand: %v", cause, err), err
		}
		r.res.RolledBack = true
		return fmt.Errorf("%w; rolled back to the previous daemon.json (docker was not reloaded or restarted)", cause), nil
	case rerr != nil:
		return fmt.Errorf("%w (daemon.json could not be read back: %v; left as it is, docker was not reloaded or restarted)", cause, rerr), nil
	}
	return fmt.Errorf("%w (daemon.json holds neither the old nor the new file: left as it is, docker was not reloaded or restarted)", cause), nil
}
