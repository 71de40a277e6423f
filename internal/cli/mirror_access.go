package cli

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/crypto/ssh"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/member"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/warm"
)

// The commands that read through the mirror (warm, prove) reach it the way
// the nodes do: from a manager. Every request rides a direct-tcpip channel
// of the SSH connection to that manager, so it works from a laptop outside
// the swarm and from CI without opening a port, and names resolve there.

// endpointsOf derives the caches from the inventory's mirror section,
// without reading upstream credentials or the TLS key (reading through a
// mirror needs neither): only the CA, which the mirror's certificate may
// be signed by.
func endpointsOf(inv *inventory.Inventory) ([]stack.Endpoint, stack.Values, error) {
	m := inventoryMirror(inv)
	m.UpstreamPasswordFile, m.UpstreamPasswordEnv, m.UpstreamUsername = "", "", ""
	m.TLSCert, m.TLSKey = "", ""
	for i := range m.Registries {
		m.Registries[i].PasswordFile, m.Registries[i].PasswordEnv, m.Registries[i].Username = "", "", ""
	}
	v, err := stack.FromInventory(m, inv.Nodes)
	if err != nil {
		return nil, v, usageErr("%v", err)
	}
	v.Defaults()
	eps := v.Endpoints()
	if len(eps) == 0 {
		return nil, v, inputErr("list the upstreams in mirror.registries", "the inventory names no upstream registry")
	}
	return eps, v, nil
}

// memberNames are the names a node may go by in the stack's replica list.
func memberNames(m *member.Member) []string {
	names := []string{m.Name, m.Target.Host}
	if m.Facts != nil && m.Facts.Hostname != "" {
		names = append(names, m.Facts.Hostname)
	}
	return names
}

// sshClienter is a node connection that can open direct-tcpip channels.
type sshClienter interface{ Client() *ssh.Client }

// tunnelTransport is an HTTP transport whose connections the manager opens
// (SSH direct-tcpip), trusting the system roots plus caPEM (the
// inventory's mirror.ca_file).
func tunnelTransport(mgr *member.Member, caPEM []byte) (http.RoundTripper, error) {
	sc, ok := mgr.Conn.(sshClienter)
	if !ok || sc.Client() == nil {
		return nil, fmt.Errorf("cannot open connections through %s: not an SSH connection", mgr.Name)
	}
	var tc *tls.Config
	if len(caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, inputErr("give a PEM certificate in mirror.ca_file", "mirror.ca_file holds no PEM certificate")
		}
		tc = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return warm.NewTransport(sc.Client().DialContext, tc), nil
}

// endpointFor finds the cache of an image's registry.
func endpointFor(eps []stack.Endpoint, registry string) (stack.Endpoint, bool) {
	for _, e := range eps {
		if warm.RegistryKey(e.Registry) == registry {
			return e, true
		}
	}
	return stack.Endpoint{}, false
}

// registryNames lists the upstreams, for messages.
func registryNames(eps []stack.Endpoint) string {
	var s []string
	for _, e := range eps {
		s = append(s, e.Registry)
	}
	return strings.Join(s, ", ")
}
