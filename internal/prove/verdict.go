package prove

import (
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/swarmctl/swarmctl/internal/hoststoml"
)

// Verdict is what a node's probe proved.
type Verdict string

const (
	// ViaMirror: the pull succeeded and the mirror's log shows the node's
	// request for the probe's manifest, answered.
	ViaMirror Verdict = "via-mirror"
	// Bypassed: the pull succeeded but the mirror never served the node:
	// dockerd went around it.
	Bypassed Verdict = "bypassed"
	// Failed: the pull failed, or there is no evidence either way.
	Failed Verdict = "failed"
)

// Text is the verdict as the table prints it.
func (v Verdict) Text() string {
	if v == ViaMirror {
		return "via mirror"
	}
	return string(v)
}

// Reason codes: why a node bypassed the mirror or failed.
const (
	ReasonUnreachable  = "mirror-unreachable"
	ReasonTLS          = "tls-not-trusted"
	ReasonHostsTOML    = "hosts-toml-override"
	ReasonNotConfigure = "not-configured"
	ReasonFellBack     = "fell-back"
	ReasonPullFailed   = "pull-failed"
	ReasonNoEvidence   = "no-evidence"
	ReasonProbePresent = "probe-present"
)

// Setup is how the node is meant to reach the mirror for the registry.
type Setup struct {
	Registry    string
	MirrorURL   string
	LiveMirrors []string // docker info's registry mirrors (daemon.json's, loaded)
	// Route is how this engine can mirror the registry ("" unknown: then
	// daemon.json for docker.io is assumed); RouteReason when NotPossible.
	Route       hoststoml.Route
	RouteReason string
}

// Outcome is one node's verdict with its reason and the evidence.
type Outcome struct {
	Verdict    Verdict
	ReasonCode string
	Reason     string
	Evidence   string
}

// Judge decides one node's verdict from the mirror's log (ev, and how many
// requests for the probe no node could be tied to) and explains a bypass
// or a failure from the node's setup and what it saw.
func Judge(p Probe, ev Evidence, unmatched []Request, s Setup, timeoutSecs int) Outcome {
	served := ev.Served()
	evidence := describe(ev)
	if !p.Pull.Complete {
		return Outcome{Verdict: Failed, ReasonCode: ReasonPullFailed, Reason: "the probe did not finish on the node (its output was cut short)", Evidence: evidence}
	}
	if p.Pull.Ok() {
		if served {
			return Outcome{Verdict: ViaMirror, Evidence: evidence}
		}
		if len(unmatched) > 0 {
			return Outcome{Verdict: Failed, ReasonCode: ReasonNoEvidence, Reason: noEvidence(unmatched), Evidence: "the pull succeeded"}
		}
		if p.Pull.HadImage {
			// dockerd answers a pull by digest of an image it holds
			// without asking any registry (seen with Docker 20.10).
			return Outcome{Verdict: Failed, ReasonCode: ReasonProbePresent, Evidence: "the pull succeeded; the mirror's log has no request for it from this node",
				Reason: "nothing proven: the node already had the probe image, and dockerd asks no registry for an image it holds by digest; give --image an image the nodes lack"}
		}
		code, why := bypassReason(p.Pull, s)
		return Outcome{Verdict: Bypassed, ReasonCode: code, Reason: why,
			Evidence: "the pull succeeded; the mirror's log has no request for it from this node"}
	}
	pullErr := lastLine(p.Pull.Output)
	if p.Pull.ExitCode == 124 {
		pullErr = fmt.Sprintf("docker pull did not finish within %d s", timeoutSecs)
	}
	switch {
	case served:
		return Outcome{Verdict: Failed, ReasonCode: ReasonPullFailed, Evidence: evidence,
			Reason: "the mirror served the manifest, then the pull failed: " + pullErr}
	case len(ev.Requests) > 0:
		return Outcome{Verdict: Failed, ReasonCode: ReasonPullFailed, Evidence: evidence,
			Reason: fmt.Sprintf("the mirror answered %d (it holds no copy and could not fetch one from its upstream: is the upstream reachable from the mirror?); the direct pull failed too: %s", ev.FirstStatus(), pullErr)}
	}
	_, why := bypassReason(p.Pull, s)
	return Outcome{Verdict: Failed, ReasonCode: ReasonPullFailed, Evidence: "the mirror's log has no request for it from this node",
		Reason: "docker pull failed: " + pullErr + "; the mirror was not asked (" + why + ")"}
}

func describe(ev Evidence) string {
	if len(ev.Requests) == 0 {
		return ""
	}
	r := ev.Requests[0]
	s := fmt.Sprintf("the mirror logged %s %s from %s at %s: %d", r.Method, r.URI, r.Client, r.Time.Format("15:04:05"), r.Status)
	if n := len(ev.Requests); n > 1 {
		s += fmt.Sprintf(" (and %d more)", n-1)
	}
	return s
}

func noEvidence(unmatched []Request) string {
	var addrs []string
	for _, r := range unmatched {
		if !slices.Contains(addrs, r.Client) {
			addrs = append(addrs, r.Client)
		}
	}
	return fmt.Sprintf("cannot tell: the mirror logged %d request(s) for the probe from %s, the address of no single node "+
		"(with publish_mode ingress the registry sees the ingress network's address; use host publishing or Traefik)",
		len(unmatched), strings.Join(addrs, ", "))
}

func lastLine(ls []string) string {
	if len(ls) == 0 {
		return "no output"
	}
	return ls[len(ls)-1]
}

// tlsCurlCodes are curl's exit statuses for a TLS failure (handshake,
// certificate, CA file).
var tlsCurlCodes = []int{35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91}

// bypassReason explains why dockerd did not ask the mirror.
func bypassReason(p Pull, s Setup) (code, why string) {
	host := s.MirrorURL
	if u, err := url.Parse(s.MirrorURL); err == nil && u.Host != "" {
		host = u.Host
	}
	listed := p.HostsTOML != nil && strings.Contains(string(p.HostsTOML), host)
	live := slices.ContainsFunc(s.LiveMirrors, func(m string) bool { return strings.TrimRight(m, "/") == strings.TrimRight(s.MirrorURL, "/") })
	toml := hoststoml.CertsDir + "/" + s.Registry + "/hosts.toml"
	switch {
	case s.Route == hoststoml.NotPossible:
		return ReasonNotConfigure, "not configured: this engine cannot mirror " + s.Registry + ": " + s.RouteReason
	case s.Route == hoststoml.ViaHostsTOML && p.HostsTOML != nil && !listed:
		return ReasonHostsTOML, "hosts.toml override: " + toml + " does not list the mirror, and dockerd reads it instead of daemon.json's registry-mirrors"
	case s.Route == hoststoml.ViaHostsTOML && !listed && !(s.Registry == hoststoml.DockerHub && live):
		return ReasonNotConfigure, "not configured: no " + toml + " lists the mirror (run nodes configure)"
	case s.Route != hoststoml.ViaHostsTOML && !live:
		return ReasonNotConfigure, fmt.Sprintf("not configured: dockerd's registry mirrors are %v, without %s (run nodes configure; a pending change needs a reload)", s.LiveMirrors, s.MirrorURL)
	}
	switch {
	case p.MirrorCurl == 0 && (p.MirrorHTTP == 200 || p.MirrorHTTP == 401):
		return ReasonFellBack, "the mirror answers this node, yet dockerd went around it (see \"Attempting next endpoint\" in the node's dockerd log)"
	case slices.Contains(tlsCurlCodes, p.MirrorCurl):
		return ReasonTLS, fmt.Sprintf("TLS not trusted: the node does not trust %s's certificate (curl exit %d; give the CA in mirror.ca_file and run nodes configure)", host, p.MirrorCurl)
	case p.MirrorCurl == 0:
		return ReasonUnreachable, fmt.Sprintf("mirror unreachable: %s/v2/ answers HTTP %d from the node", strings.TrimRight(s.MirrorURL, "/"), p.MirrorHTTP)
	case p.MirrorCurl > 0 && p.MirrorCurl != 127:
		return ReasonUnreachable, fmt.Sprintf("mirror unreachable from the node: %s (curl exit %d: %s)", s.MirrorURL, p.MirrorCurl, curlMeaning(p.MirrorCurl))
	}
	return ReasonFellBack, "dockerd went around the mirror (the node has no curl to tell why; see \"Attempting next endpoint\" in its dockerd log)"
}

func curlMeaning(code int) string {
	switch code {
	case 6:
		return "name not resolved"
	case 7:
		return "connection refused or no route"
	case 28:
		return "timed out"
	case 52:
		return "empty reply"
	case 56:
		return "connection reset"
	}
	return "no HTTP answer"
}
