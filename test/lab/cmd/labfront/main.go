// Command labfront is the HTTPS front of a lab stand-in for a public
// registry (see test/lab/front): TLS on -listen with -cert/-key, an access
// log on stdout (JSON lines) and on the control port, and a reverse proxy
// to -backend.
//
//	labfront -name ghcr.io -backend http://10.213.5.7:5000 -cert /tls/cert.pem -key /tls/key.pem
package main

import (
	"crypto/tls"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"

	"github.com/swarmctl/swarmctl/test/lab/front"
)

func main() {
	name := flag.String("name", "", "the registry name this front stands in for")
	backend := flag.String("backend", "", "URL of the registry holding the images")
	certFile := flag.String("cert", "/tls/cert.pem", "TLS certificate (PEM)")
	keyFile := flag.String("key", "/tls/key.pem", "TLS key (PEM)")
	listen := flag.String("listen", ":443", "HTTPS address")
	control := flag.String("control", ":8080", "plain-HTTP control address (log, config)")
	flag.Parse()
	u, err := url.Parse(*backend)
	if *name == "" || err != nil || u.Host == "" {
		fmt.Fprintln(os.Stderr, "labfront: -name and an absolute -backend URL are required")
		os.Exit(2)
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "labfront:", err)
		os.Exit(1)
	}
	s := front.New(*name, u, os.Stdout)
	if err := s.ServeTLS(*listen, cert); err != nil {
		fmt.Fprintln(os.Stderr, "labfront:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "labfront: %s on %s -> %s; control on %s\n", *name, *listen, u, *control)
	if err := http.ListenAndServe(*control, s.ControlHandler()); err != nil {
		fmt.Fprintln(os.Stderr, "labfront:", err)
		os.Exit(1)
	}
}
