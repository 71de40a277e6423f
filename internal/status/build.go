package status

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/nodes"
	"github.com/swarmctl/swarmctl/internal/stack"
)

// Input is what Build checks.
type Input struct {
	// Nodes are the report's rows in order (the selected nodes, then the
	// discovered ones), connected with their facts, or with Err.
	Nodes []*member.Member
	// Manager is the connected manager asked about the swarm; nil when
	// there is none, and ManagerErr says why.
	Manager    *member.Member
	ManagerErr error
	// Asked are other connected members that are not rows (a manager that
	// is asked only): the cache's disk may be theirs.
	Asked []*member.Member
	// Stack names the stack, its service and data directory (Defaults
	// applied).
	Stack stack.Values
	// MirrorURLs are the wanted mirrors, validated; the first is checked.
	MirrorURLs []string
	// Timeout bounds each HTTP check from here.
	Timeout time.Duration
	Now     func() time.Time
	// Warnings found before (e.g. discovery failed).
	Warnings []string
	// Upstreams, when set, says per node how it pulls each upstream and
	// whether the mirror's CA is in place (Node.Registries, Node.CA).
	Upstreams func(*member.Member) ([]NodeRegistry, string)
	// Endpoints are the caches to look at past the mirror (upstream.go);
	// none skips that.
	Endpoints []stack.Endpoint
	// CAFile and CAPEM are mirror.ca_file and its content (ca.go); none
	// skips the CA checks.
	CAFile string
	CAPEM  []byte
	// Replicas are the endpoints that run one cache per replica node
	// (mirror.replica_nodes): each replica is checked on its own.
	Replicas []stack.Endpoint
}

// Build checks the stack on the manager, the endpoint from here and from
// the manager, the cache, and every node's mirror state, and judges them.
// The caller fills the rest of the header (schema_version, command).
func Build(ctx context.Context, in Input) *Report {
	rep := &Report{MirrorURLs: in.MirrorURLs, Nodes: []Node{}}
	rep.Warnings = in.Warnings
	if rep.MirrorURLs == nil {
		rep.MirrorURLs = []string{}
	}
	url := ""
	if len(in.MirrorURLs) > 0 {
		url = in.MirrorURLs[0]
	}
	var services []Service
	if mgr := in.Manager; mgr != nil {
		st, svcs, fm := CheckStack(ctx, mgr.Conn, in.Stack.StackName, in.Stack.Service(), url)
		rep.Stack, services = &st, svcs
		if url != "" {
			rep.FromManager = &fm
		}
		cache := &Cache{Repositories: []string{}}
		for _, t := range st.Tasks {
			if t.DesiredState != "Running" {
				continue
			}
			for _, m := range append(in.Nodes[:len(in.Nodes):len(in.Nodes)], in.Asked...) {
				if m.Conn != nil && m.Facts != nil && m.Facts.Hostname == t.Node {
					n, err := DiskUsage(ctx, m.Conn, in.Stack.DataDir)
					cache.DiskBytes, cache.DiskNode = n, m.Name
					if err != nil {
						cache.Error = err.Error()
					}
				}
			}
		}
		rep.Cache = cache
		rep.Upstreams = CheckUpstreams(ctx, mgr.Conn, append(in.Nodes[:len(in.Nodes):len(in.Nodes)], in.Asked...), in.Endpoints, in.Timeout, in.Now)
	} else {
		// Without a manager the service's state is unknown: Judge makes
		// that "could not check", not "not deployed".
		rep.Stack = &Stack{Name: in.Stack.StackName, Service: in.Stack.Service(), Tasks: []Task{}, Error: in.ManagerErr.Error()}
	}
	if url != "" {
		ep := CheckEndpoint(ctx, url, in.Timeout, in.Now)
		rep.Endpoint = &ep
		// The catalog is read from here, manager or not.
		if rep.Cache == nil {
			rep.Cache = &Cache{Repositories: []string{}}
		}
		var repos []string
		var err error
		if ep.Reachable {
			repos, err = Catalog(ctx, url, in.Timeout)
		} else {
			err = errors.New("not checked: the mirror is unreachable")
		}
		if err != nil {
			if rep.Cache.Error == "" {
				rep.Cache.Error = "catalog: " + err.Error()
			}
		} else {
			rep.Cache.Repositories = repos
		}
	}
	if len(in.Replicas) > 0 {
		var tasks []Task
		if rep.Stack != nil {
			tasks = rep.Stack.Tasks
		}
		rep.Replicas = CheckReplicas(ctx, in, tasks)
	}
	for _, m := range in.Nodes {
		n := row(m, in.MirrorURLs)
		if in.Upstreams != nil && m.Facts != nil {
			n.Registries, n.CA = in.Upstreams(m)
		}
		rep.Nodes = append(rep.Nodes, n)
	}
	rep.CA = CheckCA(ctx, in.Nodes, in.CAFile, in.CAPEM, in.Endpoints, in.Timeout, now(in.Now))
	rep.Judge(services)
	return rep
}

// row is a member's line in the report.
func row(m *member.Member, want []string) Node {
	n := Node{Name: m.Name, Address: m.Address(), Discovered: m.Discovered, Reachable: m.Reached}
	if m.Err != nil {
		n.Error = nodes.Unnamed(m.Name, m.Err).Error() // Judge names the node
	}
	if f := m.Facts; f != nil {
		n.Role, n.Hostname, n.Service, n.DaemonJSON = f.Role(), f.Hostname, f.Service, f.DaemonJSONPath
		st := member.Evaluate(f, want, len(want) > 0)
		n.Mirror = &st
		switch {
		case f.Service == "":
			n.Error = "no docker service found"
		case !f.ServiceActive:
			// Its daemon.json may list the mirror, but nothing applies
			// it: say docker is down, not "pending a reload".
			n.Error = fmt.Sprintf("docker is not running: %s.service is not active (systemctl start %s)", f.Service, f.Service)
		}
	}
	return n
}
