// Command labdns is the lab network's resolver (see test/lab): it answers
// A queries for the names given as name=IPv4 arguments and every other
// query with "no such name", at once.
//
//	labdns [-listen :53] [registry-1.docker.io=10.213.5.4 ...]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"strings"

	"github.com/swarmctl/swarmctl/test/lab"
)

func main() {
	listen := flag.String("listen", ":53", "UDP address to answer on")
	flag.Parse()
	hosts := map[string]net.IP{}
	for _, a := range flag.Args() {
		name, addr, ok := strings.Cut(a, "=")
		ip := net.ParseIP(addr)
		if !ok || ip == nil || ip.To4() == nil || name == "" {
			fmt.Fprintf(os.Stderr, "labdns: %q: want name=IPv4\n", a)
			os.Exit(2)
		}
		hosts[strings.ToLower(strings.TrimSuffix(name, "."))] = ip
	}
	pc, err := net.ListenPacket("udp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labdns:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "labdns: on %s: %d names, NXDOMAIN for the rest\n", pc.LocalAddr(), len(hosts))
	if err := lab.ServeDNSFor(pc, hosts); err != nil {
		fmt.Fprintln(os.Stderr, "labdns:", err)
		os.Exit(1)
	}
}
