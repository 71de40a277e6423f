package prove

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

// ReloadScript reads a node's daemon reload events: `reload-events.sh PID`
// (dockerd's PID, 0 when not known).
var ReloadScript = nodes.MustScript(scriptFiles, "scripts/reload-events.sh")

// EventsHeld is how many events dockerd keeps in memory (moby's
// daemon/events: eventsLimit, the same from 20.10 to 29): when it holds
// that many, older ones, a reload among them, are gone.
const EventsHeld = 256

// ReloadEvent is one daemon reload event.
type ReloadEvent struct {
	Time time.Time
	// Mirrors is the registry-mirrors attribute: the daemon's mirrors
	// after the reload (moby's daemon/reload.go, a JSON list).
	Mirrors      []string
	MirrorsKnown bool // the event had the attribute
}

// Reloads is what reload-events.sh reports from one node.
type Reloads struct {
	Events  []ReloadEvent // oldest first
	Started time.Time     // dockerd's start (zero: not known)
	Held    int           // events dockerd holds (-1: not known)
	Oldest  time.Time     // the oldest of them
	Err     string        // docker events failed: why
	// Complete: the script ran to its end.
	Complete bool
}

// eventJSON is the part of docker's events.Message read here.
type eventJSON struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	Time     int64 `json:"time"`
	TimeNano int64 `json:"timeNano"`
}

// ParseReloads reads reload-events.sh's output.
func ParseReloads(out []byte) Reloads {
	sec := nodes.ParseSections(out)
	r := Reloads{Complete: sec.Has("end"), Held: -1}
	if n, err := strconv.ParseInt(strings.TrimSpace(sec.First("started")), 10, 64); err == nil && n > 0 {
		r.Started = time.Unix(n, 0).UTC()
	}
	rc := strings.TrimSpace(sec.First("rc"))
	switch {
	case !sec.Has("rc"):
	case rc == "124":
		r.Err = "docker events did not answer within 20 s"
	case rc != "0":
		r.Err = "docker events exited " + rc
		if ls := sec.NonBlank("events"); len(ls) > 0 {
			r.Err += ": " + strings.TrimSpace(ls[len(ls)-1])
		}
	default:
		for _, l := range sec.NonBlank("events") {
			if ev, ok := parseReloadEvent(l); ok {
				r.Events = append(r.Events, ev)
			}
		}
		slices.SortStableFunc(r.Events, func(a, b ReloadEvent) int { return a.Time.Compare(b.Time) })
		if f := strings.Fields(sec.First("held")); len(f) > 0 {
			r.Held, _ = strconv.Atoi(f[0])
			if len(f) > 1 {
				if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil && ns > 0 {
					r.Oldest = time.Unix(0, ns).UTC()
				}
			}
		}
	}
	return r
}

func parseReloadEvent(line string) (ReloadEvent, bool) {
	var e eventJSON
	if json.Unmarshal([]byte(strings.TrimSpace(line)), &e) != nil || e.Type != "daemon" || e.Action != "reload" {
		return ReloadEvent{}, false
	}
	ev := ReloadEvent{Time: time.Unix(e.Time, 0).UTC()}
	if e.TimeNano > 0 {
		ev.Time = time.Unix(0, e.TimeNano).UTC()
	}
	if m, ok := e.Actor.Attributes["registry-mirrors"]; ok {
		ev.MirrorsKnown = true
		ev.Mirrors = mirrorList(m)
	}
	return ev, true
}

// mirrorList reads the registry-mirrors attribute: a JSON list, or Go's
// "[a b]" form.
func mirrorList(s string) []string {
	var l []string
	if json.Unmarshal([]byte(s), &l) == nil {
		return l
	}
	return strings.Fields(strings.NewReplacer("[", " ", "]", " ", ",", " ", `"`, " ").Replace(s))
}

// Reload statuses.
const (
	// ReloadConfirmed: the last reload's registry-mirrors list the mirror.
	ReloadConfirmed = "confirmed"
	// ReloadOtherMirrors: the last reload loaded mirrors without it.
	ReloadOtherMirrors = "other-mirrors"
	// ReloadNone: no reload since dockerd started: a restart loaded its
	// configuration, which is normal.
	ReloadNone = "none-since-start"
	// ReloadUnavailable: the events could not be read, or do not tell.
	ReloadUnavailable = "not-available"
)

// ReloadCheck is what a node's reload events say about the mirror. It is
// supporting evidence only: it never changes a verdict.
type ReloadCheck struct {
	Status  string
	Time    time.Time // the last reload (zero: none seen)
	Mirrors []string  // its registry-mirrors
	Started time.Time // dockerd's start (zero: not known)
	Detail  string    // "reload: ..." as the table prints it
}

// Unavailable is a ReloadCheck that could not be made, and why.
func Unavailable(why string) ReloadCheck {
	return ReloadCheck{Status: ReloadUnavailable, Detail: "reload: not available: " + why}
}

// CheckReload reads the node's last reload for mirrorURL.
func CheckReload(r Reloads, mirrorURL string) ReloadCheck {
	switch {
	case r.Err != "":
		return Unavailable(r.Err)
	case !r.Complete:
		return Unavailable("the node's output was cut short")
	}
	if len(r.Events) == 0 {
		c := ReloadCheck{Status: ReloadNone, Started: r.Started}
		// A full buffer whose oldest event is later than dockerd's
		// start may have dropped a reload.
		if r.Held >= EventsHeld && !r.Oldest.IsZero() && (r.Started.IsZero() || r.Oldest.After(r.Started.Add(5*time.Second))) {
			c = Unavailable(fmt.Sprintf("none among the %d events dockerd still holds (it keeps only its last %d; the oldest is from %s)",
				r.Held, EventsHeld, clock(r.Oldest)))
			c.Started = r.Started
			return c
		}
		since := "dockerd started"
		if !r.Started.IsZero() {
			since += " at " + clock(r.Started)
		}
		c.Detail = "reload: none seen since " + since + " (a restart, not a reload, loaded its configuration: normal)"
		return c
	}
	last := r.Events[len(r.Events)-1]
	c := ReloadCheck{Time: last.Time, Mirrors: last.Mirrors, Started: r.Started}
	switch {
	case !last.MirrorsKnown:
		c.Status = ReloadUnavailable
		c.Detail = "reload: not available: the last reload, at " + clock(last.Time) + ", does not list registry-mirrors"
	case slices.ContainsFunc(last.Mirrors, func(m string) bool { return sameMirror(m, mirrorURL) }):
		c.Status = ReloadConfirmed
		c.Detail = "reload: confirmed: dockerd's last reload, at " + clock(last.Time) + ", loaded registry-mirrors " + fmt.Sprint(last.Mirrors)
	default:
		c.Status = ReloadOtherMirrors
		c.Detail = "reload: lists other mirrors: " + fmt.Sprint(last.Mirrors) + " (dockerd's last reload, at " + clock(last.Time) + ", without " + mirrorURL + ")"
	}
	return c
}

// sameMirror compares mirror URLs as dockerd does: a trailing slash and
// the case of scheme and host do not matter.
func sameMirror(a, b string) bool {
	return b != "" && strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

func clock(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") }
