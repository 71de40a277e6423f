package lab

import (
	"fmt"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// writeFiles records new host keys and rewrites known_hosts, ssh_config,
// inventory.yaml and lab.json from the lab's state.
func (l *Lab) writeFiles(newKeys map[string][]string) error {
	if l.st.HostKeys == nil {
		l.st.HostKeys = map[string][]string{}
	}
	for ip, k := range newKeys {
		l.st.HostKeys[ip] = k
	}
	if err := writeFileAtomic(l.KnownHostsPath(), []byte(renderKnownHosts(l.st.HostKeys)), 0o644); err != nil {
		return err
	}
	if err := writeFileAtomic(l.SSHConfigPath(), []byte(renderSSHConfig(l.st.Machines, l.KeyPath(), l.KnownHostsPath())), 0o644); err != nil {
		return err
	}
	inv, err := renderInventory(l.st, l.KeyPath(), l.KnownHostsPath())
	if err != nil {
		return err
	}
	if err := writeFileAtomic(l.InventoryPath(), inv, 0o644); err != nil {
		return err
	}
	return l.save()
}

// renderKnownHosts writes one line per host key, keyed by IP.
func renderKnownHosts(keys map[string][]string) string {
	ips := make([]string, 0, len(keys))
	for ip := range keys {
		ips = append(ips, ip)
	}
	sort.Strings(ips)
	var b strings.Builder
	for _, ip := range ips {
		for _, k := range keys[ip] {
			fmt.Fprintf(&b, "%s %s\n", ip, k)
		}
	}
	return b.String()
}

func renderSSHConfig(ms []Machine, key, knownHosts string) string {
	var b strings.Builder
	b.WriteString("# swarmctl lab: ssh -F this-file <machine>\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "\nHost %s\n  HostName %s\n  User root\n  Port 22\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  StrictHostKeyChecking yes\n",
			m.Name, m.IP, key, knownHosts)
	}
	return b.String()
}

// The inventory types of internal/inventory, reduced to the keys the lab
// sets, in a readable order.
type invFile struct {
	Defaults invDefaults `yaml:"defaults"`
	Nodes    []invNode   `yaml:"nodes"`
	Mirror   invMirror   `yaml:"mirror"`
}

type invDefaults struct {
	User       string `yaml:"user"`
	Port       int    `yaml:"port"`
	Key        string `yaml:"key"`
	KnownHosts string `yaml:"known_hosts"`
}

type invNode struct {
	Host string `yaml:"host"`
	Name string `yaml:"name"`
	Role string `yaml:"role"`
}

type invMirror struct {
	URL         string   `yaml:"url"`
	Insecure    bool     `yaml:"insecure"`
	RemoteURL   string   `yaml:"remote_url"`
	Image       string   `yaml:"image"`
	Traefik     string   `yaml:"traefik"`
	Publish     int      `yaml:"publish"`
	PublishMode string   `yaml:"publish_mode"`
	Constraints []string `yaml:"constraints"`
	Manager     string   `yaml:"manager"`
}

// renderInventory is swarmctl's inventory for the lab: every machine
// except those from AddMachine, a plain-http mirror on the first manager
// whose upstream is the lab's upstream registry. With host publishing the
// port is bound only where the task runs, and the data directory exists
// only where install created it, so the service is pinned to that manager.
func renderInventory(st state, key, knownHosts string) ([]byte, error) {
	inv := invFile{
		Defaults: invDefaults{User: "root", Port: 22, Key: key, KnownHosts: knownHosts},
		Mirror: invMirror{
			// The image the machines have (swarmctl's default is registry:3,
			// which this lab does not build).
			Insecure: true, RemoteURL: st.Upstream, Image: RegistryImage, Traefik: "none",
			Publish: 5000, PublishMode: "host",
		},
	}
	for _, m := range st.Machines {
		if inv.Mirror.URL == "" && m.Role == "manager" {
			inv.Mirror.URL = "http://" + m.IP + ":5000"
			inv.Mirror.Manager = m.Name
			inv.Mirror.Constraints = []string{"node.role==manager", "node.hostname==" + m.Name}
		}
		if !m.Added {
			inv.Nodes = append(inv.Nodes, invNode{Host: m.IP, Name: m.Name, Role: m.Role})
		}
	}
	b, err := yaml.Marshal(inv)
	if err != nil {
		return nil, err
	}
	head := fmt.Sprintf("# swarmctl inventory for lab %q (written by test/lab; machines added later are not listed)\n", st.Name)
	return append([]byte(head), b...), nil
}
