// Command labdns answers every DNS query on UDP port 53 with "no such
// name" at once. It runs as the lab network's resolver (see test/lab).
package main

import (
	"fmt"
	"net"
	"os"

	"github.com/swarmctl/swarmctl/test/lab"
)

func main() {
	addr := ":53"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labdns:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "labdns: answering NXDOMAIN on", pc.LocalAddr())
	if err := lab.ServeDNS(pc); err != nil {
		fmt.Fprintln(os.Stderr, "labdns:", err)
		os.Exit(1)
	}
}
