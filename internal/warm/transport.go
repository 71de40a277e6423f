package warm

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// DialFunc opens a connection to addr ("mirror.example.com:443"). Over SSH
// it is the manager's (*ssh.Client).DialContext, so the name is resolved and
// the port reached from the manager (a direct-tcpip channel), not from the
// machine swarmctl runs on, and no port is opened anywhere.
type DialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

// NewTransport is an http.Transport for Options.Transport that dials with
// dial (nil: a plain net.Dialer) and trusts tlsConf (nil: the system roots;
// set RootCAs to the company CA, e.g. from tlscheck.ParseCAPEM). It ignores
// HTTP(S)_PROXY: through an SSH connection the tunnel is the route. A
// response header must come within two minutes, which leaves a pull-through
// cache time to open a big uncached blob upstream; the caller's context
// bounds the whole.
func NewTransport(dial DialFunc, tlsConf *tls.Config) *http.Transport {
	if dial == nil {
		d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	if tlsConf != nil {
		tlsConf = tlsConf.Clone()
	}
	return &http.Transport{
		Proxy:                 nil,
		DialContext:           dial,
		TLSClientConfig:       tlsConf,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          32,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 2 * time.Minute,
		ExpectContinueTimeout: time.Second,
	}
}
