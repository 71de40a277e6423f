package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/swarmctl/swarmctl/internal/inventory"
	"github.com/swarmctl/swarmctl/internal/report"
	"github.com/swarmctl/swarmctl/internal/stack"
	"github.com/swarmctl/swarmctl/internal/status"
	"github.com/swarmctl/swarmctl/internal/upcheck"
)

// statusEndpoints are the caches the inventory describes, for status to
// look at past the mirror, and the content of mirror.ca_file. Passwords and the TLS key are not read: status
// takes the credentials from each cache's deployed config, inside its
// task, so it needs no secret on this machine.
func statusEndpoints(m inventory.Mirror, ns []inventory.Node, stackName string) ([]stack.Endpoint, []byte, error) {
	m.UpstreamPasswordFile, m.UpstreamPasswordEnv, m.TLSKey = "", "", ""
	m.Registries = append([]inventory.Registry(nil), m.Registries...)
	for i := range m.Registries {
		m.Registries[i].PasswordFile, m.Registries[i].PasswordEnv = "", ""
	}
	v, err := stack.FromInventory(m, ns)
	if err != nil {
		return nil, nil, err
	}
	if stackName != "" {
		v.StackName = stackName
	}
	v.Defaults()
	return v.Endpoints(), v.CAPEM, nil
}

// printUpstreams shows each cache past the mirror: the upstream from the
// task (reachable, time, certificate, credentials, pulls left), the disk
// holding the cache and its counters.
func printUpstreams(w io.Writer, r *status.Report) {
	if len(r.Upstreams) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "UPSTREAM\tNODE\tREACH\tTLS\tCREDENTIALS\tPULLS LEFT\tDISK FREE\tHITS/MISSES (BLOBS)\tPULLED FROM UPSTREAM")
	for _, u := range r.Upstreams {
		if u.NotChecked != "" {
			fmt.Fprintf(tw, "%s\t-\tnot checked: %s\t\t\t\t\t\t\n", u.Registry, u.NotChecked)
			continue
		}
		for _, t := range u.Tasks {
			if t.Error != "" && t.FromTask == nil {
				fmt.Fprintf(tw, "%s\t%s\t%s\t\t\t\t%s\t\t\n", u.Registry, t.Node, t.Error, diskCell(t.Disk))
				continue
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Registry, t.Node, reachCell(t), tlsCell(t.Check),
				credCell(t), allowanceCell(t.Check), diskCell(t.Disk), hitsCell(t), pulledCell(t))
		}
	}
	tw.Flush()
}

func reachCell(t status.UpstreamTask) string {
	switch ft := t.FromTask; {
	case ft != nil && ft.Error != "":
		return "down: " + ft.Error
	case t.Check != nil && !t.Check.Reachable:
		return "down: " + t.Check.Error
	case t.Check != nil:
		return fmt.Sprintf("HTTP %d in %d ms", t.Check.Status, t.Check.LatencyMS)
	case ft != nil && ft.Status != 0:
		return fmt.Sprintf("HTTP %d", ft.Status)
	}
	return "-"
}

func tlsCell(c *upcheck.Result) string {
	switch {
	case c == nil || c.TLS == nil:
		return "-"
	case !c.TLS.OK:
		return "bad: " + c.TLS.Reason
	}
	return fmt.Sprintf("ok, %d days", c.TLS.DaysLeft)
}

func credCell(t status.UpstreamTask) string {
	c := t.Check
	user := "anonymous"
	if t.Username != "" {
		user = t.Username
	}
	if c == nil {
		return user
	}
	switch c.Credentials {
	case "none":
		return user
	case "not-checked":
		return user + " (not checked)"
	}
	return user + " " + c.Credentials
}

func allowanceCell(c *upcheck.Result) string {
	if c == nil || c.Allowance == nil {
		return "-"
	}
	a := c.Allowance
	return fmt.Sprintf("%d/%d per %s", a.Remaining, a.Limit, windowWords(a.WindowSeconds))
}

func windowWords(secs int) string {
	switch {
	case secs <= 0:
		return "window"
	case secs%3600 == 0:
		return fmt.Sprintf("%dh", secs/3600)
	case secs%60 == 0:
		return fmt.Sprintf("%dm", secs/60)
	}
	return fmt.Sprintf("%ds", secs)
}

func diskCell(d *status.CacheDisk) string {
	if d == nil {
		return "-"
	}
	if d.Error != "" {
		return "?"
	}
	return fmt.Sprintf("%s (%.1f%%)", report.HumanBytes(d.FreeBytes), d.FreePercent)
}

func hitsCell(t status.UpstreamTask) string {
	m := t.Metrics
	if m == nil {
		return "-"
	}
	if !m.BlobKnown {
		return "?"
	}
	s := fmt.Sprintf("%d/%d", m.Blob.Hits, m.Blob.Misses)
	if m.BlobHitRatio != nil {
		s += fmt.Sprintf(" (%.0f%%)", *m.BlobHitRatio*100)
	}
	return s
}

func pulledCell(t status.UpstreamTask) string {
	if t.Metrics == nil {
		return "-"
	}
	return report.HumanBytes(int64(t.Metrics.Total().PulledBytes))
}

// printCA shows the company CA's state: each mirror certificate judged
// against it, and every node whose certs.d copy is not the CA file.
func printCA(w io.Writer, r *status.Report) {
	ca := r.CA
	if ca == nil {
		return
	}
	for _, c := range ca.Certificates {
		switch {
		case c.Check == nil:
			fmt.Fprintf(w, "Certificate %s: not read: %s\n", c.URL, c.Error)
		case c.Check.OK:
			fmt.Fprintf(w, "Certificate %s: valid with %s, for %s, expires in %d days (%s)\n", c.URL, ca.File,
				strings.Join(append(append([]string{}, c.Check.DNSNames...), c.Check.IPs...), ", "), c.Check.DaysLeft, c.Check.Issuer)
		default:
			fmt.Fprintf(w, "Certificate %s: NOT valid with %s: %s\n", c.URL, ca.File, c.Check.Reason)
		}
	}
	ok := 0
	for _, n := range ca.Nodes {
		if n.State == status.CAOk {
			ok++
			continue
		}
		fmt.Fprintf(w, "CA %s: %s on %s\n", n.Path, n.State, n.Node)
	}
	fmt.Fprintf(w, "CA file %s: identical on %d of %d node checks\n", ca.File, ok, len(ca.Nodes))
}
