package lab

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/swarmctl/swarmctl/test/lab/front"
)

// Names of the public registries the lab stands in for, over HTTPS on 443
// with certificates of the lab CA. The lab DNS answers them with their
// stand-in's address; every other name stays NXDOMAIN.
const (
	// HubName is Docker Hub's registry endpoint (docker.io images).
	HubName  = "registry-1.docker.io"
	GHCRName = "ghcr.io"
	QuayName = "quay.io"
)

// standInNames in address order: front i at .4+i, its backend at
// standInBackendOctets[i].
var (
	standInNames         = []string{HubName, GHCRName, QuayName}
	standInShort         = []string{"hub", "ghcr", "quay"}
	standInBackendOctets = []int{3, 7, 8}
)

// StandIn is one HTTPS stand-in: a front (TLS, access log, knobs) at IP:443
// proxying to a plain registry:2 backend that holds the upstream's images.
type StandIn struct {
	Name             string   `json:"name"`
	IP               string   `json:"ip"`
	Container        string   `json:"container"`
	Control          string   `json:"control"` // http://ip:8080
	Backend          string   `json:"backend"` // http://ip:5000
	BackendContainer string   `json:"backend_container"`
	Images           []string `json:"images"`
}

// URL is the stand-in's registry URL as nodes use it (https://name).
func (s StandIn) URL() string { return "https://" + s.Name }

// Mark is the newest access log entry's sequence number: entries a test
// causes afterwards are those of Log(ctx, mark).
func (s StandIn) Mark(ctx context.Context) (int64, error) {
	b, err := controlDo(ctx, http.MethodGet, s.Control+"/seq", nil)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", s.Name, err)
	}
	var n int64
	_, err = fmt.Sscan(string(b), &n)
	return n, err
}

// Log returns the access log entries after the mark (0: all).
func (s StandIn) Log(ctx context.Context, after int64) ([]front.Entry, error) {
	b, err := controlDo(ctx, http.MethodGet, fmt.Sprintf("%s/log?after=%d", s.Control, after), nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.Name, err)
	}
	var out []front.Entry
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e front.Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("%s: access log line %q: %w", s.Name, sc.Text(), err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// Config returns the front's run-time configuration.
func (s StandIn) Config(ctx context.Context) (front.Config, error) {
	var c front.Config
	b, err := controlDo(ctx, http.MethodGet, s.Control+"/config", nil)
	if err != nil {
		return c, fmt.Errorf("%s: %w", s.Name, err)
	}
	return c, json.Unmarshal(b, &c)
}

// Configure replaces the front's run-time configuration: down (upstream
// unreachable), Docker Hub rate-limit headers, credentials, latency,
// bandwidth. The zero Config is the plain stand-in.
func (s StandIn) Configure(ctx context.Context, c front.Config) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if _, err := controlDo(ctx, http.MethodPut, s.Control+"/config", b); err != nil {
		return fmt.Errorf("%s: %w", s.Name, err)
	}
	return nil
}

// SetDown stops (true) or restarts (false) the stand-in's HTTPS listener:
// the upstream-down drill. Clients get "connection refused" meanwhile.
func (s StandIn) SetDown(ctx context.Context, down bool) error {
	c, err := s.Config(ctx)
	if err != nil {
		return err
	}
	c.Down = down
	return s.Configure(ctx, c)
}

func controlDo(ctx context.Context, method, url string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	resp, err := directClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// StandIns are the lab's HTTPS stand-ins for public registries.
func (l *Lab) StandIns() []StandIn { return append([]StandIn(nil), l.st.StandIns...) }

// StandIn returns the stand-in for a registry name (docker.io and
// index.docker.io name Docker Hub's).
func (l *Lab) StandIn(name string) (StandIn, error) {
	switch name {
	case "docker.io", "index.docker.io":
		name = HubName
	}
	for _, s := range l.st.StandIns {
		if s.Name == name {
			return s, nil
		}
	}
	return StandIn{}, fmt.Errorf("lab %s has no stand-in for %s", l.st.Name, name)
}

// Hub is the Docker Hub stand-in.
func (l *Lab) Hub() StandIn { s, _ := l.StandIn(HubName); return s }

// HTTPClient reaches the stand-ins by their public names from the host (it
// dials their lab addresses; the host's resolver does not know the lab)
// and trusts only the lab CA.
func (l *Lab) HTTPClient() (*http.Client, error) {
	ca, err := LoadCA()
	if err != nil {
		return nil, err
	}
	addrs := map[string]string{}
	for _, s := range l.st.StandIns {
		addrs[s.Name+":443"] = s.IP + ":443"
	}
	d := &net.Dialer{Timeout: 10 * time.Second}
	tr := &http.Transport{
		Proxy:           nil,
		TLSClientConfig: ca.TLSConfig(),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if a, ok := addrs[addr]; ok {
				addr = a
			}
			return d.DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr, Timeout: 2 * time.Minute}, nil
}

// CAPath is the lab CA's certificate (PEM) in the state dir.
func (l *Lab) CAPath() string { return l.dir + "/ca.crt" }

// planStandIns records the stand-ins the lab will run (so that Down finds
// them whatever fails next); startStandIns runs them.
func (l *Lab) planStandIns() error {
	var ins []StandIn
	for i, name := range standInNames {
		ip := hostIP(l.st.Subnet, 4+i)
		s := StandIn{
			Name: name, IP: ip, Container: l.prefix() + "-" + standInShort[i],
			Control: "http://" + ip + ":8080", Backend: "http://" + hostIP(l.st.Subnet, standInBackendOctets[i]) + ":5000",
			BackendContainer: l.prefix() + "-" + standInShort[i] + "-registry",
		}
		if name == HubName {
			s.BackendContainer = l.prefix() + "-upstream" // the name it has always had
		}
		imgs, err := imagesOf(name)
		if err != nil {
			return err
		}
		s.Images = imgs
		ins = append(ins, s)
	}
	l.st.StandIns = ins
	return l.save()
}

// startStandIns runs the planned stand-ins' backends and fronts
// (certificates from the CA), all at once.
func (l *Lab) startStandIns(ctx context.Context, ca *CA, backendImage, frontImage string) error {
	errs := make([]error, len(l.st.StandIns))
	var wg sync.WaitGroup
	for i, s := range l.st.StandIns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.startStandIn(ctx, s, ca, backendImage, frontImage)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (l *Lab) startStandIn(ctx context.Context, s StandIn, ca *CA, backendImage, frontImage string) error {
	backendIP := strings.TrimSuffix(strings.TrimPrefix(s.Backend, "http://"), ":5000")
	if _, err := l.e.docker(ctx, nil, "run", "-d", "--name", s.BackendContainer, "--label", label+"="+l.st.Name,
		"--network", l.st.Network, "--ip", backendIP, backendImage); err != nil {
		return err
	}
	cert, key, err := ca.Issue(s.Name)
	if err != nil {
		return err
	}
	if _, err := l.e.docker(ctx, nil, "create", "--name", s.Container, "--label", label+"="+l.st.Name,
		"--network", l.st.Network, "--ip", s.IP, frontImage,
		"-name", s.Name, "-backend", s.Backend, "-cert", "/tls/cert.pem", "-key", "/tls/key.pem"); err != nil {
		return err
	}
	b, err := tarBytes([]tarEntry{
		{name: "tls", dir: true, mode: 0o755},
		{name: "tls/cert.pem", mode: 0o644, body: cert},
		{name: "tls/key.pem", mode: 0o600, body: key},
	})
	if err != nil {
		return err
	}
	if _, err := l.e.docker(ctx, bytes.NewReader(b), "cp", "-", s.Container+":/"); err != nil {
		return err
	}
	_, err = l.e.docker(ctx, nil, "start", s.Container)
	return err
}

// seedAndCheckStandIns pushes the images into the backends and checks each
// front serves one of them over HTTPS with a certificate the lab CA
// signed for its name.
func (l *Lab) seedAndCheckStandIns(ctx context.Context) error {
	c, err := l.HTTPClient()
	if err != nil {
		return err
	}
	for _, s := range l.st.StandIns {
		if err := seedStandIn(ctx, s); err != nil {
			return fmt.Errorf("seed the %s stand-in: %w", s.Name, err)
		}
		repo, tag, _ := strings.Cut(s.Images[0], ":")
		if err := checkManifest(ctx, c, s.URL(), repo, tag); err != nil {
			return fmt.Errorf("the %s stand-in: %w", s.Name, err)
		}
	}
	return nil
}

// checkManifest HEADs a manifest through a stand-in, retrying while the
// front starts.
func checkManifest(ctx context.Context, c *http.Client, base, repo, tag string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodHead, base+"/v2/"+repo+"/manifests/"+tag, nil)
		if err != nil {
			return err
		}
		req.Header.Set("Accept", mediaManifest)
		req.Header.Set("User-Agent", "swarmctl-lab/check")
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HEAD %s:%s: %s", repo, tag, resp.Status)
		}
		var certErr *tls.CertificateVerificationError
		if time.Now().After(deadline) || ctx.Err() != nil || errors.As(err, &certErr) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}
