package main

import (
	"context"
	"fmt"
	"path/filepath"
)

// fdAllowance is what swarmctl holds open besides one connection per node
// in flight: stdio, the Go runtime's poller, and the swarm's active
// managers, which stay connected for the quorum guard.
const fdAllowance = 16

// vfleetResult is the virtual fleet's scaling: a no-op on one node (the
// cost of a node), the no-op over all of them against that cost times
// nodes/--parallel, and a changing run; with peak RSS and the most file
// descriptors swarmctl had open.
type vfleetResult struct {
	Nodes    int `json:"nodes"`
	Managers int `json:"managers"`
	Parallel int `json:"parallel"`
	// OneNode is the no-op on one virtual node (process start included).
	OneNode    []procResult `json:"one_node_runs"`
	OneNodeMS  stats        `json:"one_node_wall_ms"`
	OneNodeCPU stats        `json:"one_node_cpu_ms"`
	// ProjectedMS is OneNodeMS.Median * Nodes / Parallel: the fleet in
	// waves of --parallel, each as fast as one node alone.
	ProjectedMS float64      `json:"projected_wall_ms"`
	NoOp        []procResult `json:"noop_runs"`
	NoOpMS      stats        `json:"noop_wall_ms"`
	NoOpCPU     stats        `json:"noop_cpu_ms"`
	// CPUPerNodeMS is the no-op's CPU (median) per node.
	CPUPerNodeMS float64 `json:"noop_cpu_per_node_ms"`
	// CommandsPerNode is what the no-op ran on each node.
	CommandsPerNode float64 `json:"noop_commands_per_node"`
	MaxRSSKiB       int64   `json:"max_rss_kib"`
	MaxFDs          int     `json:"max_fds"`
	// Wide is one no-op at WideParallel, to show descriptors follow
	// --parallel, not the fleet.
	WideParallel int              `json:"wide_parallel"`
	Wide         *procResult      `json:"wide_noop,omitempty"`
	Change       []vfleetRun      `json:"change_runs"`
	ChangeSteps  map[string]int64 `json:"change_step_median_ms,omitempty"`
}

type vfleetRun struct {
	To              string         `json:"to"`
	Proc            procResult     `json:"proc"`
	Summary         map[string]int `json:"summary"`
	CommandsPerNode float64        `json:"commands_per_node"`
	OK              bool           `json:"ok"`
}

func (b *bench) vfleet(ctx context.Context) error {
	n, p := b.c.vnodes, b.c.parallel
	b.logf("vfleet: starting %d virtual nodes (%d managers)", n, b.c.vmanagers)
	f, err := newVFleet(filepath.Join(b.tmp, "vfleet"), n, b.c.vmanagers, mirrorA)
	if err != nil {
		return err
	}
	defer f.Close()
	res := &vfleetResult{Nodes: n, Managers: b.c.vmanagers, Parallel: p, WideParallel: 4 * p}
	b.res.VFleet = res
	one, err := f.inventoryOf(1)
	if err != nil {
		return err
	}
	all, err := f.inventoryOf(n)
	if err != nil {
		return err
	}
	noop := func(inv string, nodes, parallel int) (procResult, error) {
		r, out, err := b.swarmctl(ctx, inv, parallel, "--mirror", mirrorA)
		if err != nil {
			return r, err
		}
		if r.Exit != 0 || out.Summary["unchanged"] != nodes {
			return r, fmt.Errorf("no-op over %d virtual nodes: exit %d, %v: %s", nodes, r.Exit, out.Summary, tail(r.stderr))
		}
		return r, nil
	}
	// Warm up (page cache, the servers' first handshakes), then measure.
	if _, err := noop(one, 1, p); err != nil {
		return err
	}
	var wall, cpu []float64
	for i := 0; i < b.c.reps; i++ {
		r, err := noop(one, 1, p)
		if err != nil {
			return err
		}
		res.OneNode = append(res.OneNode, r)
		wall, cpu = append(wall, r.WallMS), append(cpu, r.CPUMS())
	}
	res.OneNodeMS, res.OneNodeCPU = summarize(wall), summarize(cpu)
	res.ProjectedMS = res.OneNodeMS.Median * float64(n) / float64(p)
	f.commands()
	wall, cpu = nil, nil
	reps := min(b.c.reps, 3)
	for i := 0; i < reps; i++ {
		r, err := noop(all, n, p)
		if err != nil {
			return err
		}
		res.NoOp = append(res.NoOp, r)
		wall, cpu = append(wall, r.WallMS), append(cpu, r.CPUMS())
		res.MaxRSSKiB, res.MaxFDs = max(res.MaxRSSKiB, r.MaxRSSKiB), max(res.MaxFDs, r.MaxFDs)
		b.logf("vfleet: no-op over %d nodes: %s wall, %.0f ms CPU, peak RSS %s, %d fds", n, fmtMS(r.WallMS), r.CPUMS(), fmtKiB(r.MaxRSSKiB), r.MaxFDs)
	}
	res.NoOpMS, res.NoOpCPU = summarize(wall), summarize(cpu)
	res.CPUPerNodeMS = res.NoOpCPU.Median / float64(n)
	res.CommandsPerNode = float64(f.commands()) / float64(n*reps)
	r, err := noop(all, n, res.WideParallel)
	if err != nil {
		return err
	}
	res.Wide = &r
	b.logf("vfleet: no-op at --parallel %d: %s wall, peak RSS %s, %d fds", res.WideParallel, fmtMS(r.WallMS), fmtKiB(r.MaxRSSKiB), r.MaxFDs)
	f.commands()
	steps := map[string][]float64{}
	for _, m := range []string{mirrorB, mirrorA} {
		r, out, err := b.swarmctl(ctx, all, p, "--mirror", m)
		if err != nil {
			return err
		}
		run := vfleetRun{To: m, Proc: r, Summary: out.Summary, CommandsPerNode: float64(f.commands()) / float64(n),
			OK: r.Exit == 0 && out.Summary["reloaded"] == n}
		for _, nd := range out.Nodes {
			for _, s := range nd.Steps {
				steps[s.Name] = append(steps[s.Name], float64(s.MS))
			}
		}
		res.Change = append(res.Change, run)
		res.MaxRSSKiB, res.MaxFDs = max(res.MaxRSSKiB, r.MaxRSSKiB), max(res.MaxFDs, r.MaxFDs)
		b.logf("vfleet: change to %s over %d nodes: %s wall, %.0f ms CPU, peak RSS %s, %d fds, %v", m, n, fmtMS(r.WallMS), r.CPUMS(), fmtKiB(r.MaxRSSKiB), r.MaxFDs, out.Summary)
		if !run.OK {
			return fmt.Errorf("change to %s over %d virtual nodes: exit %d, %v (want %d reloaded): %s", m, n, r.Exit, out.Summary, n, tail(r.stderr))
		}
	}
	res.ChangeSteps = map[string]int64{}
	for k, v := range steps {
		res.ChangeSteps[k] = int64(summarize(v).Median)
	}
	return nil
}
