package cli

import (
	"fmt"
	"strings"

	"github.com/swarmctl/swarmctl/internal/configure"
	"github.com/swarmctl/swarmctl/internal/report"
)

// consent asks before restarts and removals: on a terminal it asks; with
// --yes (SWARMCTL_YES) it goes ahead; otherwise it refuses (exit 2,
// nothing changed). A plan that only reloads or changes nothing needs no
// consent; a dry run never asks.
type consent struct {
	d      *Deps
	g      *GlobalOptions
	yes    bool
	dryRun bool
	// approved are the nodes already agreed to restart (apply asks before
	// its install phase, and again only for new restarts).
	approved map[string]bool
	asked    bool
}

// terminal reports whether there is someone to ask.
func (c *consent) terminal() bool { return c.d.IO.StdinTTY && c.d.IO.StderrTTY }

// plan prints p on stderr and gets consent for it when it needs it.
func (c *consent) plan(p *configure.Plan) error {
	if c.asked && c.coveredBy(p) {
		return nil // apply: agreed before the install phase
	}
	if len(p.Changing()) == 0 {
		return nil // nothing to change: the per-node lines say it all
	}
	fmt.Fprint(c.d.IO.Err, p.Text())
	if c.dryRun || !p.NeedsConsent() {
		return nil
	}
	return c.ask(consentQuestion(p))
}

// coveredBy: every restart of p was approved already, and p removes
// nothing.
func (c *consent) coveredBy(p *configure.Plan) bool {
	if p.Remove && len(p.Changing()) > 0 {
		return false
	}
	for _, n := range p.Restarting() {
		if !c.approved[n] {
			return false
		}
	}
	return true
}

// approve records p's restarts as agreed.
func (c *consent) approve(p *configure.Plan) {
	c.asked = true
	if c.approved == nil {
		c.approved = map[string]bool{}
	}
	for _, n := range p.Restarting() {
		c.approved[n] = true
	}
}

// consentQuestion says what needs consent: "restart docker on 2 node(s)
// (w1, m1)", "remove the mirror from 3 node(s) (...)".
func consentQuestion(p *configure.Plan) string {
	var parts []string
	if p.Remove {
		ch := p.Changing()
		parts = append(parts, fmt.Sprintf("remove the mirror from daemon.json on %d node(s) (%s)", len(ch), strings.Join(ch, ", ")))
	}
	if r := p.Restarting(); len(r) > 0 {
		parts = append(parts, fmt.Sprintf("restart docker on %d node(s) (%s)", len(r), strings.Join(r, ", ")))
	}
	return strings.Join(parts, " and ")
}

// ask gets a yes for what: --yes, else the terminal, else a refusal.
func (c *consent) ask(what string) error {
	if c.yes {
		c.d.IO.Progress("%s: going ahead: %s", c.g.flagName("yes"), what)
		return nil
	}
	if !c.terminal() {
		return &exitError{code: ExitError, kind: report.ErrConsentRequired,
			err:  fmt.Errorf("this run would %s, and there is no terminal to ask: nothing was changed", what),
			hint: "check the plan above (or --dry-run for the diffs), then pass --yes (or set SWARMCTL_YES=1)"}
	}
	fmt.Fprintf(c.d.IO.Err, "%s? [y/N] ", upperFirst(what))
	switch strings.ToLower(strings.TrimSpace(c.d.IO.ReadLine())) {
	case "y", "yes":
		return nil
	}
	return &exitError{code: ExitError, kind: report.ErrDeclined, err: fmt.Errorf("not confirmed: nothing was changed")}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
