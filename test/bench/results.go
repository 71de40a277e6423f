package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"
	"time"
)

// Results is the JSON document a bench run writes.
type Results struct {
	SchemaVersion int         `json:"schema_version"`
	Started       time.Time   `json:"started"`
	DurationS     float64     `json:"duration_s"`
	Machine       machineInfo `json:"machine"`
	Lab           labInfo     `json:"lab"`
	Parallel      int         `json:"parallel"`
	Reps          int         `json:"reps"`

	Fresh   *configureRun `json:"fresh,omitempty"`
	NoOp    *noopResult   `json:"noop,omitempty"`
	RTT     *rttResult    `json:"rtt,omitempty"`
	Memory  []memPoint    `json:"memory,omitempty"`
	Reload  *configureRun `json:"reload,omitempty"`
	Restart *configureRun `json:"restart,omitempty"`
	VFleet  *vfleetResult `json:"vfleet,omitempty"`
	GoBench []goBench     `json:"go_bench,omitempty"`
	WAN     *wanResult    `json:"wan,omitempty"`

	Targets []target `json:"targets"`
	Errors  []string `json:"errors,omitempty"`
}

type machineInfo struct {
	NProc       int    `json:"nproc"`
	MemTotalMiB int    `json:"mem_total_mib"`
	Kernel      string `json:"kernel"`
	GoVersion   string `json:"go_version"`
	Swarmctl    string `json:"swarmctl_version"`
	LoadStart   string `json:"load_start"`
	LoadEnd     string `json:"load_end"`
}

type labInfo struct {
	Name     string  `json:"name"`
	Machines int     `json:"machines"`
	Managers int     `json:"managers"`
	Workers  int     `json:"workers"`
	Layout   string  `json:"layout"`
	UpS      float64 `json:"up_s"`
	Reset    bool    `json:"reset"` // reused lab whose nodes were put back to their first-boot daemon.json
}

// configureRun is one measured `swarmctl nodes configure`.
type configureRun struct {
	What    string         `json:"what"`
	Args    []string       `json:"args"`
	Load    string         `json:"load"`
	Proc    procResult     `json:"proc"`
	Summary map[string]int `json:"summary"`
	Want    string         `json:"want"` // expected outcome on every selected node
	Nodes   int            `json:"nodes"`
	OK      bool           `json:"ok"`
	// SlowestNodeMS and the step times show where a changing run spends
	// its time.
	SlowestNodeMS int64            `json:"slowest_node_ms"`
	StepMedianMS  map[string]int64 `json:"step_median_ms,omitempty"`
}

// noopResult compares swarmctl's no-op with the OpenSSH floor on the same
// machines, measured interleaved in the same run.
type noopResult struct {
	Runs      []procResult `json:"runs"`
	Wall      stats        `json:"wall_ms"`
	CPU       stats        `json:"cpu_ms"`
	MaxRSSKiB stats        `json:"max_rss_kib"`

	Floor      []fanOut `json:"floor_runs"` // ssh -F cfg node true
	FloorWall  stats    `json:"floor_wall_ms"`
	FloorCPU   stats    `json:"floor_cpu_ms"`
	Ratio      float64  `json:"ratio_to_floor"` // median no-op wall / median floor wall
	FactsSSH   []fanOut `json:"ssh_facts_runs"` // ssh -F cfg node '<the facts command>'
	FactsWall  stats    `json:"ssh_facts_wall_ms"`
	FactsRatio float64  `json:"ratio_to_ssh_facts"`

	// Breakdown: a process start (swarmctl version), and the no-op's remote
	// part done in-process with the same parallelism (dial only; dial and
	// facts command).
	// Baseline is the same no-op with -baseline-bin, interleaved.
	BaselineBin  string `json:"baseline_bin,omitempty"`
	BaselineWall stats  `json:"baseline_wall_ms,omitempty"`
	BaselineCPU  stats  `json:"baseline_cpu_ms,omitempty"`
	ProcStart    stats  `json:"proc_start_ms"`
	DialAll      stats  `json:"inproc_dial_all_ms"`
	DialFactAll  stats  `json:"inproc_dial_facts_all_ms"`
}

// rttResult is the latency experiment: time at two one-way delays; the
// slope gives round trips (each round trip costs 2*delay).
type rttResult struct {
	DelaysMS     [2]float64          `json:"one_way_delay_ms"`
	CountDelayMS float64             `json:"count_delay_ms"`
	Paths        map[string]*rttPath `json:"paths"`
	// Derived, per node.
	// From the timings' slopes (see the paths for the counted turns).
	Handshake      float64 `json:"handshake_rtts"`       // nodes.Dial
	AfterHandshake float64 `json:"after_handshake_rtts"` // no-op binary on 1 node minus handshake
	InProcAfter    float64 `json:"inproc_after_hs_rtts"` // in-process dial+facts minus dial
	OpenSSHTrue    float64 `json:"openssh_true_rtts"`    // ssh node true, handshake included
	FleetNoOp      float64 `json:"fleet_noop_rtts"`      // no-op on all N proxied nodes at once (wall slope)
	ProxyConnsNoOp int64   `json:"proxy_conns_per_noop"` // TCP connections one no-op opens per node
	// Counted at the proxy: the load-proof numbers.
	HandshakeTurns      float64 `json:"handshake_turns"`
	AfterHandshakeTurns float64 `json:"after_handshake_turns"`
	Note                string  `json:"note,omitempty"`
}

type rttPath struct {
	MS  [2]stats `json:"ms"` // at delay 1, delay 2
	RTT float64  `json:"rtts"`
	// Turns are the round trips counted at the proxy at CountDelayMS (per
	// connection; fewest of 2 runs); TurnsMax the most seen.
	Turns    float64 `json:"turns"`
	TurnsMax float64 `json:"turns_max"`
}

// memPoint is swarmctl's no-op over a virtual fleet (proxy ports).
type memPoint struct {
	// Run is "no-op", or "change" for a mirror change over the virtual
	// fleet: every machine reloaded once, its other virtual nodes find the
	// change made (under the node lock) and end unchanged.
	Run       string  `json:"run"`
	Nodes     int     `json:"nodes"`
	Parallel  int     `json:"parallel"`
	WallMS    float64 `json:"wall_ms"`
	CPUMS     float64 `json:"cpu_ms"`
	MaxRSSKiB int64   `json:"max_rss_kib"`
	OK        bool    `json:"ok"`
}

type goBench struct {
	Name        string  `json:"name"`
	NsPerOp     float64 `json:"ns_per_op"`
	MBPerS      float64 `json:"mb_per_s,omitempty"`
	BytesPerOp  int64   `json:"bytes_per_op"`
	AllocsPerOp int64   `json:"allocs_per_op"`
}

type target struct {
	Name     string `json:"name"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      bool   `json:"met"`
	Note     string `json:"note,omitempty"`
}

func writeJSON(dir string, r *Results) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("bench-N%d-%s.json", r.Lab.Machines, r.Started.UTC().Format("20060102T150405Z")))
	return path, os.WriteFile(path, append(b, '\n'), 0o644)
}

func printTable(w io.Writer, r *Results) {
	fmt.Fprintf(w, "swarmctl benchmark: %d machines (%d managers, %d workers, %s layout), --parallel %d, %d reps\n",
		r.Lab.Machines, r.Lab.Managers, r.Lab.Workers, r.Lab.Layout, r.Parallel, r.Reps)
	fmt.Fprintf(w, "host: %d CPUs, %d MiB, kernel %s, %s; load %s -> %s\n\n",
		r.Machine.NProc, r.Machine.MemTotalMiB, r.Machine.Kernel, r.Machine.GoVersion, r.Machine.LoadStart, r.Machine.LoadEnd)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "MEASUREMENT\tWALL\tCPU\tPEAK RSS\tNOTE")
	for _, cr := range []*configureRun{r.Fresh, r.Reload, r.Restart} {
		if cr == nil {
			continue
		}
		note := fmt.Sprintf("%v (want %d %s)", cr.Summary, cr.Nodes, cr.Want)
		if !cr.OK {
			note = "UNEXPECTED " + note
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cr.What, fmtMS(cr.Proc.WallMS), fmtMS(cr.Proc.CPUMS()), fmtKiB(cr.Proc.MaxRSSKiB), note)
	}
	if n := r.NoOp; n != nil {
		fmt.Fprintf(tw, "no-op (median of %d)\t%s\t%s\t%s\tmin %s max %s\n", n.Wall.N, fmtMS(n.Wall.Median), fmtMS(n.CPU.Median), fmtKiB(int64(n.MaxRSSKiB.Median)), fmtMS(n.Wall.Min), fmtMS(n.Wall.Max))
		if n.BaselineBin != "" {
			fmt.Fprintf(tw, "no-op, baseline binary\t%s\t%s\t-\t%s\n", fmtMS(n.BaselineWall.Median), fmtMS(n.BaselineCPU.Median), n.BaselineBin)
		}
		fmt.Fprintf(tw, "OpenSSH floor: ssh node true\t%s\t%s\t-\tCPU summed over the ssh processes\n", fmtMS(n.FloorWall.Median), fmtMS(n.FloorCPU.Median))
		fmt.Fprintf(tw, "OpenSSH + facts command\t%s\t-\t-\tssh node '<the same facts command>'\n", fmtMS(n.FactsWall.Median))
		fmt.Fprintf(tw, "  process start (swarmctl version)\t%s\t-\t-\t\n", fmtMS(n.ProcStart.Median))
		fmt.Fprintf(tw, "  in-process: dial all\t%s\t-\t-\tnodes.Dial, same parallelism\n", fmtMS(n.DialAll.Median))
		fmt.Fprintf(tw, "  in-process: dial + facts all\t%s\t-\t-\t\n", fmtMS(n.DialFactAll.Median))
		fmt.Fprintf(tw, "no-op / floor\t%.2fx\t\t\tno-op / (ssh + facts) %.2fx\n", n.Ratio, n.FactsRatio)
	}
	for _, m := range r.Memory {
		fmt.Fprintf(tw, "%s, %d virtual nodes, --parallel %d\t%s\t%s\t%s\t%s\n", m.Run, m.Nodes, m.Parallel, fmtMS(m.WallMS), fmtMS(m.CPUMS), fmtKiB(m.MaxRSSKiB), okNote(m))
	}
	tw.Flush()
	if v := r.VFleet; v != nil && len(v.NoOp) > 0 {
		fmt.Fprintf(w, "\nvirtual fleet: %d in-process SSH nodes (%d managers), --parallel %d:\n", v.Nodes, v.Managers, v.Parallel)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "RUN\tWALL\tCPU\tPEAK RSS\tMAX FDS\tNOTE")
		fmt.Fprintf(tw, "no-op, 1 node (median of %d)\t%s\t%s\t-\t-\tx %d / %d = %s projected\n", v.OneNodeMS.N, fmtMS(v.OneNodeMS.Median), fmtMS(v.OneNodeCPU.Median),
			v.Nodes, v.Parallel, fmtMS(v.ProjectedMS))
		for _, r := range v.NoOp {
			fmt.Fprintf(tw, "no-op, %d nodes\t%s\t%s\t%s\t%d\t%.1f commands/node, %.2f ms CPU/node\n", v.Nodes, fmtMS(r.WallMS), fmtMS(r.CPUMS()), fmtKiB(r.MaxRSSKiB), r.MaxFDs,
				v.CommandsPerNode, r.CPUMS()/float64(v.Nodes))
		}
		if r := v.Wide; r != nil {
			fmt.Fprintf(tw, "no-op, %d nodes, --parallel %d\t%s\t%s\t%s\t%d\t\n", v.Nodes, v.WideParallel, fmtMS(r.WallMS), fmtMS(r.CPUMS()), fmtKiB(r.MaxRSSKiB), r.MaxFDs)
		}
		for _, c := range v.Change {
			note := fmt.Sprintf("%v, %.1f commands/node", c.Summary, c.CommandsPerNode)
			if !c.OK {
				note = "UNEXPECTED " + note
			}
			fmt.Fprintf(tw, "change to %s\t%s\t%s\t%s\t%d\t%s\n", c.To, fmtMS(c.Proc.WallMS), fmtMS(c.Proc.CPUMS()), fmtKiB(c.Proc.MaxRSSKiB), c.Proc.MaxFDs, note)
		}
		tw.Flush()
	}
	if t := r.RTT; t != nil {
		fmt.Fprintf(w, "\nround trips (timing at one-way delays %.0f / %.0f ms, 1 RTT = 2 x delay; counted at %.0f ms):\n", t.DelaysMS[0], t.DelaysMS[1], t.CountDelayMS)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "PATH\tMIN @d1\tMIN @d2\tRTTs (slope)\tRTTs (counted)")
		for _, k := range sortedKeys(t.Paths) {
			p := t.Paths[k]
			counted := fmt.Sprintf("%.0f", p.Turns)
			if p.TurnsMax != p.Turns {
				counted = fmt.Sprintf("%.0f (max %.0f)", p.Turns, p.TurnsMax)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%s\n", k, fmtMS(p.MS[0].Min), fmtMS(p.MS[1].Min), p.RTT, counted)
		}
		tw.Flush()
		fmt.Fprintf(w, "counted: handshake %.0f RTTs, no-op after the handshake %.0f RTTs; slope: %.1f and %.1f (in-process %.1f); %d TCP connection(s) per node\n",
			t.HandshakeTurns, t.AfterHandshakeTurns, t.Handshake, t.AfterHandshake, t.InProcAfter, t.ProxyConnsNoOp)
	}
	if wr := r.WAN; wr != nil && len(wr.Cases) > 0 {
		fmt.Fprintf(w, "\nWAN rollout: %d nodes pull %s (%.1f MiB) at once; upstream behind %d ms and %.0f Mbit/s shared; mirror %s:\n",
			wr.Nodes, wr.Image, float64(wr.ImageBytes)/(1<<20), wr.LatencyMS, wr.BandwidthMbit, wr.MirrorImage)
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "CASE\tPULL p50\tPULL p95\tWALL\tUPSTREAM\tBLOB GETS\tFETCHED BY\tFAILED")
		for _, c := range wr.Cases {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%.2fx\t%d\t%d address(es)\t%d\n", c.Name, fmtMS(float64(c.P50MS)), fmtMS(float64(c.P95MS)), fmtMS(float64(c.WallMS)), c.UpstreamX, c.BlobGETs, len(c.Clients), c.Failed)
		}
		tw.Flush()
		fmt.Fprintf(w, "warm-up (mirror warm through SSH): %s, %.2fx the image from upstream\n", fmtMS(float64(wr.WarmMS)), float64(wr.WarmBytes)/float64(max(1, wr.ImageBytes)))
	}
	if len(r.GoBench) > 0 {
		fmt.Fprintln(w, "\nGo benchmarks:")
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tns/op\tMB/s\tB/op\tallocs/op")
		for _, g := range r.GoBench {
			fmt.Fprintf(tw, "%s\t%.0f\t%.1f\t%d\t%d\n", g.Name, g.NsPerOp, g.MBPerS, g.BytesPerOp, g.AllocsPerOp)
		}
		tw.Flush()
	}
	fmt.Fprintln(w, "\ntargets:")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		met := "MET"
		if !t.Met {
			met = "MISSED"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", t.Name, t.Target, t.Measured, met, t.Note)
	}
	tw.Flush()
	for _, e := range r.Errors {
		fmt.Fprintln(w, "error:", e)
	}
}

func okNote(m memPoint) string {
	want := "all unchanged"
	if m.Run == "change" {
		want = "each machine reloaded once, the rest unchanged"
	}
	if m.OK {
		return want
	}
	return "NOT " + want
}

func fmtMS(v float64) string {
	if v >= 10000 {
		return fmt.Sprintf("%.1fs", v/1000)
	}
	return fmt.Sprintf("%.0fms", v)
}

func fmtKiB(k int64) string {
	if k == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMiB", float64(k)/1024)
}

func sortedKeys[V any](m map[string]V) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
