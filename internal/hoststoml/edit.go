package hoststoml

import (
	"bytes"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Mirror is one pull-through cache for a registry.
type Mirror struct {
	// URL of the mirror, http or https. A path is allowed (the mirror
	// serves the registry under it); without OverridePath containerd
	// appends /v2 to it.
	URL string
	// CAPath, when set, is an absolute path written as the table's `ca`
	// (e.g. CAPath(mirror host)). containerd reads it at every pull and
	// fails the pull if it cannot: write the file before hosts.toml.
	CAPath string
	// OverridePath: the URL's path is the registry API root itself.
	OverridePath bool
}

// Desired is the hosts.toml swarmctl wants for one registry on one node.
type Desired struct {
	// Registry as image references spell it: docker.io, ghcr.io,
	// registry.example.com:5000 (see NormalizeRegistry).
	Registry string
	// Server is the upstream dockerd falls back to after the mirrors,
	// e.g. https://ghcr.io; empty means containerd's default for the
	// registry (https://registry-1.docker.io for docker.io). An existing
	// server line (or its absence) that means another endpoint is a
	// conflict: Apply refuses.
	Server string
	// Mirrors in the order dockerd should try them; the node's own
	// replica first (issue 15). Empty: swarmctl's tables are taken out.
	Mirrors []Mirror
	// CertFiles are the names of the files already in Dir(Registry) (the
	// caller lists it). When Apply creates hosts.toml there, *.crt and
	// *.cert/*.key among them are written as the server's ca and client,
	// since containerd stops reading them once a hosts.toml exists.
	CertFiles []string
	// DaemonJSON is what the node's daemon.json says, for Check; nil
	// when unknown (then any file with mirrors gets a warning).
	DaemonJSON *DaemonJSON
	// Engine is the node's Docker version, e.g. "28.5.2"; when set,
	// Apply refuses a result that engine would ignore (CheckEngine).
	Engine string
}

// Change is one edit, for humans and JSON output.
type Change struct {
	// Action: create (the file), add, update, move, remove (a table),
	// delete (the file).
	Action string `json:"action"`
	Host   string `json:"host,omitempty"` // the [host."..."] key
	Detail string `json:"detail,omitempty"`
}

// Result of Apply or Remove.
type Result struct {
	// Out is the new file; equal to the input when !Changed; nil when
	// Delete or when there is still no file.
	Out []byte
	// Delete: remove the file (swarmctl created it and nothing else is
	// left in it).
	Delete bool
	// Changed is len(Changes) > 0, and then Out (or Delete) differs from
	// the input.
	Changed bool
	Changes []Change
	// Warnings the caller must show, even when nothing changed (see
	// Check and the Code* constants).
	Warnings []Warning
}

// Apply puts the desired mirrors into existing (empty: no file yet) and
// leaves everything else as it was. It refuses (with *Error values, joined)
// a file that does not parse, that has Problems, whose server conflicts
// with Desired, or one of whose sub-tables extends swarmctl's tables.
func Apply(existing []byte, d Desired) (Result, error) {
	reg, err := NormalizeRegistry(d.Registry)
	if err != nil {
		return Result{}, err
	}
	server, serverEP, err := desiredServer(reg, d.Server)
	if err != nil {
		return Result{}, err
	}
	blocks, err := mirrorBlocks(reg, serverEP, d.Mirrors)
	if err != nil {
		return Result{}, err
	}
	for _, n := range d.CertFiles {
		if n == "" || strings.ContainsAny(n, "/\\\"") || n != path.Base(n) || strings.IndexFunc(n, unicode.IsControl) >= 0 {
			return Result{}, fmt.Errorf("cert file name %q: want a plain file name from %s", n, Dir(reg))
		}
	}

	var res Result
	if len(existing) == 0 {
		if len(blocks) == 0 {
			return Result{}, nil
		}
		var out []string
		out = append(out, renderRoot(reg, server, d.CertFiles)...)
		for _, b := range blocks {
			out = append(append(out, ""), b.lines...)
		}
		res.Out = []byte(strings.Join(out, "\n") + "\n")
		res.Changes = append(res.Changes, Change{Action: "create", Detail: HostsPath(reg)})
		for _, b := range blocks {
			res.Changes = append(res.Changes, Change{Action: "add", Host: b.key})
		}
	} else {
		f, err := Parse(existing)
		if err != nil {
			return Result{}, err
		}
		if len(f.Problems) > 0 {
			return Result{}, problemsErr(f.Problems)
		}
		if err := checkServer(f, reg, serverEP); err != nil {
			return Result{}, err
		}
		blocks, res.Warnings = dropForeign(f, blocks)
		out := splice(f.layout, func(s section) bool { return s.marked }, blocks)
		res.Out = existing
		if !bytes.Equal(out, existing) {
			res.Out = out
			res.Changes = diffOwned(f, blocks)
			if len(res.Changes) == 0 {
				res.Changes = []Change{{Action: "update", Detail: "layout of swarmctl's tables"}}
			}
			if len(blocks) == 0 && deletable(f, out) {
				res.Out, res.Delete = nil, true
				res.Changes = append(res.Changes, Change{Action: "delete", Detail: "only swarmctl's content was left"})
			}
		}
	}
	res.Changed = len(res.Changes) > 0
	if res.Delete {
		return res, nil
	}

	after, err := Parse(res.Out)
	if err != nil {
		return Result{}, fmt.Errorf("internal error: swarmctl's own edit does not parse (%v); nothing written", err)
	}
	if err := verifyOrder(after, blocks); err != nil {
		return Result{}, fmt.Errorf("internal error: %v; nothing written", err)
	}
	if d.Engine != "" {
		ws, err := CheckEngine(after, d.Engine)
		if err != nil {
			return Result{}, err
		}
		res.Warnings = append(res.Warnings, ws...)
	}
	res.Warnings = append(res.Warnings, Check(after, reg, d.DaemonJSON)...)
	if len(res.Out) == 0 {
		res.Out = nil
	}
	return res, nil
}

// Remove takes swarmctl's tables for the given mirror URLs out of existing
// (all of swarmctl's tables when mirrors is empty). Tables that are not
// swarmctl's stay, even for the same URL (a CodeForeignKept warning). When swarmctl
// created the file and nothing but its own content is left, Result.Delete
// is set. Problems other than OwnedSubTable do not stop a removal; they are
// reported as warnings.
func Remove(existing []byte, mirrors []string) (Result, error) {
	if len(existing) == 0 {
		return Result{}, nil
	}
	f, err := Parse(existing)
	if err != nil {
		return Result{}, err
	}
	var res Result
	var blocking []Problem
	for _, p := range f.Problems {
		if p.Kind == OwnedSubTable {
			blocking = append(blocking, p)
		} else {
			res.Warnings = append(res.Warnings, Warning{Code: CodeProblemKept, Message: p.err("").Error() + " (left as it is)"})
		}
	}
	if len(blocking) > 0 {
		return Result{}, problemsErr(blocking)
	}
	want := map[string]bool{}
	for _, m := range mirrors {
		c, err := cleanURL("mirror", m, true)
		if err != nil {
			return Result{}, err
		}
		want[c] = true
	}
	l := f.layout
	remove := func(s section) bool {
		return s.marked && (len(mirrors) == 0 || want[keyNorm(s.key[1])])
	}
	for _, s := range l.sections[1:] {
		if remove(s) {
			res.Changes = append(res.Changes, Change{Action: "remove", Host: s.key[1]})
		} else if isHostKey(s.key) && !s.marked && want[keyNorm(s.key[1])] {
			res.Warnings = append(res.Warnings, Warning{Code: CodeForeignKept, Message: fmt.Sprintf(
				"line %d: [host.%s] is not swarmctl's (no %q line above it): not removed", l.pos(l.items[s.header].off).Line, quote(s.key[1]), MarkerTable)})
		}
	}
	out := splice(l, remove, nil)
	res.Changed = len(res.Changes) > 0
	if !res.Changed {
		res.Out = existing
		return res, nil
	}
	if _, err := Parse(out); err != nil {
		return Result{}, fmt.Errorf("internal error: swarmctl's own edit does not parse (%v); nothing written", err)
	}
	if deletable(f, out) {
		res.Delete = true
		res.Changes = append(res.Changes, Change{Action: "delete", Detail: "only swarmctl's content was left"})
		return res, nil
	}
	res.Out = out
	return res, nil
}

// deletable: swarmctl created the file and out, its edit, holds nothing
// but the file marker, top-level server/ca/client (which swarmctl writes
// when it creates a file) and blank lines.
func deletable(f *File, out []byte) bool {
	if !f.Created {
		return false
	}
	after, err := Parse(out)
	if err != nil {
		return false
	}
	l := after.layout
	for _, it := range l.items {
		switch {
		case it.first == 0 && l.isMarker(0, MarkerFile):
		case it.kind == unstable.KeyValue && len(it.key) == 1 && (it.key[0] == "server" || it.key[0] == "ca" || it.key[0] == "client"):
		default:
			return false
		}
	}
	return true
}

func problemsErr(ps []Problem) error {
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p.err("")
	}
	return errors.Join(errs...)
}

// desiredServer validates Desired.Server (or takes containerd's default).
func desiredServer(reg, raw string) (string, Endpoint, error) {
	if raw == "" {
		ep := defaultServer(reg)
		return ep.Scheme + "://" + ep.Host, ep, nil
	}
	c, err := cleanURL("server", raw, false)
	if err != nil {
		return "", Endpoint{}, err
	}
	ep, err := endpointOf(c, false)
	if err != nil {
		return "", Endpoint{}, err
	}
	return c, ep, nil
}

// mirrorBlocks validates the mirrors and renders their tables.
func mirrorBlocks(reg string, server Endpoint, ms []Mirror) ([]mirrorBlock, error) {
	var blocks []mirrorBlock
	seen := map[Endpoint]string{}
	for _, m := range ms {
		key, err := cleanURL("mirror", m.URL, true)
		if err != nil {
			return nil, err
		}
		if m.CAPath != "" {
			if !path.IsAbs(m.CAPath) || path.Clean(m.CAPath) != m.CAPath ||
				strings.IndexFunc(m.CAPath, func(r rune) bool { return unicode.IsControl(r) || r == '"' || r == '\\' }) >= 0 {
				return nil, &URLError{What: "ca", URL: m.CAPath, Rule: "must be a clean absolute path"}
			}
		}
		ep, err := endpointOf(key, m.OverridePath)
		if err != nil {
			return nil, &URLError{What: "mirror", URL: m.URL, Rule: err.Error()}
		}
		if prev, dup := seen[ep]; dup {
			return nil, &URLError{What: "mirror", URL: m.URL, Rule: "listed twice (also as " + prev + ")"}
		}
		seen[ep] = m.URL
		if ep.Scheme == server.Scheme && sameServer(reg, Endpoint{Scheme: ep.Scheme, Host: ep.Host, Path: "/v2"}, Endpoint{Scheme: server.Scheme, Host: server.Host, Path: "/v2"}) {
			return nil, &URLError{What: "mirror", URL: m.URL, Rule: "is the registry " + reg + " itself (" + server.String() + "), not a mirror"}
		}
		blocks = append(blocks, renderMirror(key, ep, m))
	}
	return blocks, nil
}

// checkServer refuses a file whose server (or its absence) points
// elsewhere than the desired server.
func checkServer(f *File, reg string, want Endpoint) error {
	if f.Server != nil {
		if sameServer(reg, f.Server.Endpoint, want) {
			return nil
		}
		return &Error{Position: f.Server.Position, Msg: fmt.Sprintf(
			"server = %s makes dockerd fall back to %s for %s, not %s; swarmctl does not change a server line: fix it by hand or make the inventory say the same",
			quote(f.Server.URL), f.Server.Endpoint, reg, want)}
	}
	if def := defaultServer(reg); !sameServer(reg, def, want) {
		return &Error{Msg: fmt.Sprintf(
			"has no server line, so dockerd falls back to %s for %s, not %s; add server = %s by hand or make the inventory say the same",
			def, reg, want, quote(want.Scheme+"://"+want.Host))}
	}
	return nil
}

// dropForeign takes out the desired mirrors a table of the user's already
// configures (same endpoint, or the same URL with other settings, which
// TOML would not let swarmctl add twice): that table stays as it is and
// wins.
func dropForeign(f *File, blocks []mirrorBlock) ([]mirrorBlock, []Warning) {
	var out []mirrorBlock
	var ws []Warning
	for _, b := range blocks {
		i := slices.IndexFunc(f.Hosts, func(h Host) bool { return !h.Owned && (h.Endpoint == b.ep || keyNorm(h.Key) == b.key) })
		if i >= 0 {
			h := f.Hosts[i]
			ws = append(ws, Warning{Code: CodeForeignKept, Message: fmt.Sprintf(
				"line %d: [host.%s] (pulls from %s) is not swarmctl's and stands for mirror %s: left as it is; swarmctl neither changes, orders nor removes it",
				h.Line, quote(h.Key), h.Endpoint, b.key)})
			continue
		}
		out = append(out, b)
	}
	return out, ws
}
