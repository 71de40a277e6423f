package cli

import (
	"errors"
	"net"
	"slices"
	"strings"

	"github.com/swarmctl/swarmctl/internal/certsd"
	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/daemonjson"
	"github.com/swarmctl/swarmctl/internal/hoststoml"
	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/status"
)

// nodeSide is the inventory's mirror as the nodes use it: each
// upstream's URLs (per replica) and the CA the nodes trust it with.
type nodeSide struct {
	endpoints []stack.Endpoint
	ca        []byte
	// noURL are upstreams nothing says the nodes' URL of (e.g. Traefik
	// without mirror.fqdn): no node is pointed at them.
	noURL []string
	// replicas run on their own nodes (see ownReplicas).
	replicas []stack.Replica
}

// nodeSideOf reads the inventory's mirror section for the nodes (no
// credentials, no TLS certificate or key are read) and validates what the nodes need:
// the registries, replica_nodes and ca_file. hub, when not empty, are the
// docker.io URLs to use (--mirror, or mirror.url when the stack gives
// none), regs --registry laid over mirror.registries. Problems are usage
// errors: no node is touched.
func nodeSideOf(inv *inventory.Inventory, hub []string, hubFromFlags bool, regs *RegistryFlag) (*nodeSide, error) {
	m := inventoryMirror(inv)
	if regs != nil && regs.set {
		rs, err := inventory.OverlayRegistries(m.Registries, regs.regs)
		if err != nil {
			return nil, usageErr("%v", err)
		}
		m.Registries = rs
	}
	m.UpstreamPasswordFile, m.UpstreamPasswordEnv, m.UpstreamUsername = "", "", ""
	// The registry's own certificate and key are not needed on the node
	// side (url is https:// whenever they are set, validated at install).
	m.TLSCert, m.TLSKey = "", ""
	for i := range m.Registries {
		m.Registries[i].PasswordFile, m.Registries[i].PasswordEnv, m.Registries[i].Username = "", "", ""
	}
	v, err := stack.FromInventory(m, inv.Nodes)
	if err != nil {
		return nil, usageErr("%s", listErrors(err.Error()))
	}
	v.Defaults()
	var msgs []string
	for _, e := range unjoin(v.Validate()) {
		var fe *stack.FieldError
		if errors.As(e, &fe) {
			switch {
			case fe.Field == "replica_nodes", fe.Field == "ca_file", strings.HasPrefix(fe.Field, "registries"):
				msgs = append(msgs, fe.Error())
			}
		}
	}
	if len(msgs) > 0 {
		return nil, usageErr("%s", listErrors(strings.Join(msgs, "\n")))
	}
	return nodeSideFromValues(v, hub, hubFromFlags)
}

// nodeSideFromValues is nodeSideOf for values already resolved and
// validated (apply's).
func nodeSideFromValues(v stack.Values, hub []string, hubFromFlags bool) (*nodeSide, error) {
	ns := &nodeSide{ca: v.CAPEM, replicas: replicasOf(v)}
	for _, e := range v.Endpoints() {
		if e.Registry == hoststoml.DockerHub && (hubFromFlags || len(e.URLs) == 0) {
			e.URLs, e.Replicas = slices.Clone(hub), nil
		}
		for i, u := range e.URLs {
			norm, err := daemonjson.ValidateMirror(u)
			if err != nil {
				return nil, usageErr("mirror for %s: %v", e.Registry, err)
			}
			e.URLs[i] = norm
		}
		for i := range e.Replicas {
			if e.Replicas[i].URL != "" {
				norm, err := daemonjson.ValidateMirror(e.Replicas[i].URL)
				if err != nil {
					return nil, usageErr("mirror for %s: %v", e.Registry, err)
				}
				e.Replicas[i].URL = norm
			}
		}
		if len(e.URLs) == 0 && e.Registry != hoststoml.DockerHub {
			ns.noURL = append(ns.noURL, e.Registry)
		}
		ns.endpoints = append(ns.endpoints, e)
	}
	return ns, nil
}

// allHubURLs are every docker.io URL (what --remove takes out).
func (ns *nodeSide) allHubURLs() []string {
	for _, e := range ns.endpoints {
		if e.Registry == hoststoml.DockerHub {
			return slices.Clone(e.URLs)
		}
	}
	return nil
}

// nodeNames are the names a replica may be listed under for a node.
func nodeNames(n *member.Member, f *member.Facts) []string {
	names := []string{n.Name, n.Target.Host}
	if f != nil && f.Hostname != "" {
		names = append(names, f.Hostname)
	}
	if h, _, err := net.SplitHostPort(n.Address()); err == nil {
		names = append(names, h)
	}
	return names
}

// upstreamRoute is one node's route for one upstream, with its URLs in
// the node's order.
type upstreamRoute struct {
	hoststoml.Decision
	URLs []string
}

// routes decides, per upstream, how a node pulls it through the mirror
// (hoststoml.Decide on its engine and image store). ok is false when the
// node's engine did not answer (nothing can be decided).
func (ns *nodeSide) routes(n *member.Member, f *member.Facts) (rs []upstreamRoute, ok bool) {
	if f == nil || f.DockerVersion == "" || (f.ImageStore != member.ImageStoreClassic && f.ImageStore != member.ImageStoreContainerd) {
		return nil, false
	}
	names := nodeNames(n, f)
	for _, e := range ns.endpoints {
		d, err := hoststoml.Decide(f.DockerVersion, hoststoml.ImageStore(f.ImageStore), e.Registry)
		if err != nil {
			return nil, false
		}
		rs = append(rs, upstreamRoute{Decision: d, URLs: e.URLsFor(names...)})
	}
	return rs, true
}

// forNode is configure's Options.ForNode: the node's docker.io mirrors
// (its own replica first), a hosts.toml for every upstream when its
// engine reads them, the CA for every mirror host; with remove, nothing
// (swarmctl's certs.d files come out).
func (ns *nodeSide) forNode(remove bool) func(*member.Member, *member.Facts) (configure.NodeWant, error) {
	return func(n *member.Member, f *member.Facts) (configure.NodeWant, error) {
		w := configure.NodeWant{Replicas: ns.ownReplicas(n, f)}
		if remove {
			return w, nil
		}
		rs, ok := ns.routes(n, f)
		if !ok {
			// Docker did not answer: its own mirrors, certs.d left alone.
			for _, e := range ns.endpoints {
				if e.Registry == hoststoml.DockerHub {
					w.Mirrors = e.URLsFor(nodeNames(n, f)...)
				}
			}
			w.SkipCertsD = true
			return w, nil
		}
		var caHosts []string
		for _, e := range ns.endpoints {
			caHosts = append(caHosts, certsd.CAHostsOf(e.URLs)...)
			for _, rep := range e.Replicas {
				caHosts = append(caHosts, certsd.CAHostsOf([]string{rep.URL})...)
			}
		}
		if len(ns.ca) > 0 {
			w.CertsD.CA, w.CertsD.CAHosts = ns.ca, caHosts
		}
		for _, r := range rs {
			w.Registries = append(w.Registries, r.Decision)
			if r.Registry == hoststoml.DockerHub {
				w.Mirrors = r.URLs
			}
			if r.Route != hoststoml.ViaHostsTOML || len(r.URLs) == 0 {
				continue
			}
			d := hoststoml.Desired{Registry: r.Registry}
			for _, u := range r.URLs {
				m := hoststoml.Mirror{URL: u}
				if len(ns.ca) > 0 {
					if hs := certsd.CAHostsOf([]string{u}); len(hs) == 1 {
						m.CAPath = hoststoml.CAPath(hs[0])
					}
				}
				d.Mirrors = append(d.Mirrors, m)
			}
			w.CertsD.Hosts = append(w.CertsD.Hosts, d)
		}
		return w, nil
	}
}

// Per upstream states in nodes list.
const (
	RegMirrored    = "mirrored"
	RegPending     = "pending"
	RegNotPossible = "not-possible"
	RegError       = "error"
)

// RegistryState is how one node pulls one upstream (nodes list,
// mirror status).
type RegistryState = status.NodeRegistry

// registryStates says, per upstream with a mirror URL, how the node pulls
// it; nil when its engine did not answer. daemonApplied: its daemon.json
// mirrors are in effect (member.Evaluate).
func (ns *nodeSide) registryStates(n *member.Member, f *member.Facts, daemonApplied bool) []RegistryState {
	w, err := ns.forNode(false)(n, f)
	if err != nil || w.SkipCertsD {
		return nil
	}
	var out []RegistryState
	for _, d := range w.Registries {
		urls := ns.urlsOf(d.Registry)
		if len(urls) == 0 {
			continue
		}
		st := RegistryState{Registry: d.Registry, Via: string(d.Route)}
		switch d.Route {
		case hoststoml.NotPossible:
			st.State, st.Via, st.Reason, st.Fix = RegNotPossible, "", d.Reason, d.Fix
		case hoststoml.ViaDaemonJSON:
			st.State = RegPending
			if daemonApplied {
				st.State = RegMirrored
			}
		case hoststoml.ViaHostsTOML:
			st.State = RegMirrored
			for _, h := range w.CertsD.Hosts {
				if h.Registry != d.Registry {
					continue
				}
				p, err := certsd.Build(f.CertsD, certsd.Want{Hosts: []hoststoml.Desired{h}})
				if err != nil {
					st.State, st.Reason = RegError, err.Error()
					break
				}
				for _, op := range p.Ops {
					if op.Path == hoststoml.HostsPath(d.Registry) {
						st.State = RegPending
					}
				}
			}
		}
		out = append(out, st)
	}
	return out
}

// urlsOf are the URLs of an upstream.
func (ns *nodeSide) urlsOf(reg string) []string {
	for _, e := range ns.endpoints {
		if e.Registry == reg {
			return e.URLs
		}
	}
	return nil
}

// caState says whether every mirror host's ca.crt on the node holds the
// CA ("" when no ca_file): "ok", or "missing: <paths>".
func (ns *nodeSide) caState(f *member.Facts) string {
	if len(ns.ca) == 0 {
		return ""
	}
	var hosts []string
	for _, e := range ns.endpoints {
		hosts = append(hosts, certsd.CAHostsOf(e.URLs)...)
		for _, rep := range e.Replicas {
			hosts = append(hosts, certsd.CAHostsOf([]string{rep.URL})...)
		}
	}
	var missing []string
	for _, h := range hosts {
		d := f.CertsD.Dir(h)
		if d == nil || d.Files == nil || !certsd.HoldsAll(d.Files["ca.crt"], ns.ca) {
			if p := hoststoml.CAPath(h); !slices.Contains(missing, p) {
				missing = append(missing, p)
			}
		}
	}
	if len(missing) == 0 {
		return "ok"
	}
	return "missing: " + strings.Join(missing, ", ")
}

// registriesCell is a REGISTRIES column: registry=state(via) ...
func registriesCell(rs []RegistryState) string {
	var regs []string
	for _, r := range rs {
		s := r.Registry + "=" + r.State
		if r.Via != "" && r.State != RegError {
			s += "(" + r.Via + ")"
		}
		regs = append(regs, s)
	}
	return strings.Join(regs, " ")
}

// caCell is a CA column: ok, missing (the paths go to stderr), or "".
func caCell(ca string) string {
	if strings.HasPrefix(ca, "missing") {
		return "missing"
	}
	return ca
}
