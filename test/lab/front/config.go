// Package front is the HTTPS front of a lab stand-in for a public registry
// (Docker Hub's registry-1.docker.io, ghcr.io, quay.io): it terminates TLS
// with a certificate of the lab CA, keeps an access log tests can read,
// and reverse-proxies to a plain registry holding that upstream's images.
// Knobs tests turn at run time through its control port: down (the
// upstream is unreachable), Docker Hub style rate-limit headers and 429s,
// basic or token credentials, latency and a bandwidth limit (a WAN).
package front

import (
	"fmt"
	"time"
)

// Config is the front's run-time behaviour (PUT /config on the control
// port replaces it; the zero value is a plain, always-up proxy).
type Config struct {
	// Down closes the HTTPS listener: clients get "connection refused",
	// as when the upstream is unreachable.
	Down bool `json:"down,omitempty"`
	// RateLimit adds Docker Hub's ratelimit-limit / ratelimit-remaining
	// headers to manifest responses and answers 429 TOOMANYREQUESTS once
	// a client has used up its manifest GETs in the window.
	RateLimit *RateLimit `json:"rate_limit,omitempty"`
	// Auth requires credentials on /v2/.
	Auth *Auth `json:"auth,omitempty"`
	// Latency delays every request this long before it is served.
	Latency Duration `json:"latency,omitempty"`
	// BandwidthBPS limits the bytes per second of all response bodies
	// together (one shared link); 0 is unlimited. 50 Mbit/s = 6250000.
	BandwidthBPS int64 `json:"bandwidth_bps,omitempty"`
}

// RateLimit is Docker Hub's pull limit: Limit manifest GETs per Window per
// client (its address, or its user name when it logged in).
type RateLimit struct {
	Limit  int      `json:"limit"`
	Window Duration `json:"window"`
}

// Auth modes.
const (
	// AuthBasic answers 401 with WWW-Authenticate: Basic until the
	// request carries the user and password.
	AuthBasic = "basic"
	// AuthToken is Docker Hub's scheme: 401 with WWW-Authenticate: Bearer
	// realm="https://<name>/token"; GET /token (with the user and password
	// as basic auth, or without when Anonymous) returns a token the
	// client then sends as Authorization: Bearer.
	AuthToken = "token"
)

// Auth is the credential check of /v2/.
type Auth struct {
	Mode     string `json:"mode"`
	Username string `json:"username,omitempty"`
	Password string `json:"password,omitempty"`
	// Anonymous lets /token issue tokens without credentials (token mode).
	Anonymous bool `json:"anonymous,omitempty"`
}

// Validate reports a config the front cannot apply.
func (c Config) Validate() error {
	if c.RateLimit != nil && (c.RateLimit.Limit < 0 || c.RateLimit.Window.D() <= 0) {
		return fmt.Errorf("rate_limit: want limit >= 0 and a positive window, got %d per %s", c.RateLimit.Limit, c.RateLimit.Window.D())
	}
	if c.Auth != nil {
		switch c.Auth.Mode {
		case AuthBasic, AuthToken:
		default:
			return fmt.Errorf("auth: mode %q (want %s or %s)", c.Auth.Mode, AuthBasic, AuthToken)
		}
		if c.Auth.Username == "" && !(c.Auth.Mode == AuthToken && c.Auth.Anonymous) {
			return fmt.Errorf("auth: %s mode needs a username", c.Auth.Mode)
		}
	}
	if c.Latency.D() < 0 || c.BandwidthBPS < 0 {
		return fmt.Errorf("latency and bandwidth_bps must not be negative")
	}
	return nil
}

// Duration is a time.Duration that reads and writes JSON as "50ms".
type Duration time.Duration

// D is the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return fmt.Errorf("duration: want a string like \"50ms\", got %s", s)
	}
	v, err := time.ParseDuration(s[1 : len(s)-1])
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Entry is one line of the access log (JSON lines).
type Entry struct {
	Seq        int64     `json:"seq"`
	Time       time.Time `json:"time"`
	Client     string    `json:"client"` // the client's IP address
	Method     string    `json:"method"`
	Path       string    `json:"path"` // with the query, as requested
	Status     int       `json:"status"`
	Bytes      int64     `json:"bytes"` // response body bytes sent
	UserAgent  string    `json:"user_agent"`
	DurationMS int64     `json:"duration_ms"`
	User       string    `json:"user,omitempty"` // who authenticated, if anyone
}
