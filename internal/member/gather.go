package member

import (
	"context"
	"embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/swarmctl/swarmctl/internal/nodes"
)

//go:embed scripts/*.sh
var scriptFiles embed.FS

// factsScript learns everything swarmctl needs about a node in one command.
var factsScript = nodes.MustScript(scriptFiles, "scripts/facts.sh")

// MaxDaemonJSON is the largest daemon.json swarmctl reads (1 MiB; real
// ones are a few hundred bytes): a bigger file is not read at all (the
// facts say Facts.DaemonJSONTooLarge) and no node is changed because of it.
const MaxDaemonJSON = 1 << 20

// GatherFacts learns a node's facts in one remote command (run as root),
// bounded as the step "facts" (nodes.DefaultStepTimeout, or
// --step-timeout). service and configPath override detection when not
// empty.
func GatherFacts(ctx context.Context, h nodes.Host, service, configPath string) (*Facts, error) {
	ctx, cancel := nodes.Step(ctx, "facts", nodes.DefaultStepTimeout)
	defer cancel()
	out, err := h.Run(ctx, nodes.Cmd{Script: factsScript, ScriptArgs: []string{service, configPath}, Sudo: true})
	if err != nil {
		return nil, err
	}
	return ParseFacts(out.Stdout)
}

// ParseFacts parses factsScript's output.
func ParseFacts(out []byte) (*Facts, error) {
	sec := nodes.ParseSections(out)
	if !sec.Has("end") {
		return nil, fmt.Errorf("node facts: output incomplete (%d bytes)", len(out))
	}
	f := &Facts{
		OS:             sec.First("os"),
		User:           sec.First("user"),
		Hostname:       sec.First("hostname"),
		Service:        sec.First("service"),
		DaemonJSONPath: sec.First("config"),
		EnvOptions:     strings.Join(sec["envfiles"], "\n"),
		SwarmLeader:    sec.First("leader") == "true",
	}
	f.Root = f.User == "root"
	for _, l := range sec["unit"] {
		k, v, _ := strings.Cut(l, "=")
		switch k {
		case "MainPID":
			f.DaemonPID, _ = strconv.Atoi(v)
		case "ActiveState":
			f.ServiceActive = v == "active"
		case "ActiveEnterTimestampMonotonic":
			f.DaemonStart = v
		case "ExecStart":
			f.ExecStart = v
		case "Environment":
			if v != "" {
				f.EnvOptions = strings.TrimSpace(v + "\n" + f.EnvOptions)
			}
		}
	}
	if dj := sec["daemonjson"]; len(dj) > 0 && strings.HasPrefix(dj[0], "toolarge ") {
		f.DaemonJSONExists, f.DaemonJSONTooLarge = true, true
		f.DaemonJSONSize, _ = strconv.ParseInt(strings.TrimPrefix(dj[0], "toolarge "), 10, 64)
	} else if len(dj) > 0 && dj[0] == "present" {
		f.DaemonJSONExists = true
		if len(dj) > 1 {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(dj[1]))
			if err != nil {
				return nil, fmt.Errorf("node facts: decoding %s: %w", f.DaemonJSONPath, err)
			}
			f.DaemonJSON = b
		}
	}
	if sec.Has("certsd") {
		c, err := parseCertsD(sec["certsd"])
		if err != nil {
			return nil, err
		}
		f.CertsD = c
	}
	parseInfo(f, sec.First("info"))
	if f.DockerError == "" {
		parseEngine(f, sec["engine"])
		if os, arch, ok := strings.Cut(sec.First("platform"), "/"); ok {
			f.OSType, f.Architecture = strings.TrimSpace(os), strings.TrimSpace(arch)
		}
	}
	return f, nil
}

// Image stores, as docker info shows them.
const (
	ImageStoreClassic    = "classic"    // graphdriver (overlay2, vfs, ...)
	ImageStoreContainerd = "containerd" // containerd snapshotters
)

// snapshotterStatus is the DriverStatus pair that names the containerd
// image store.
const snapshotterStatus = `[["driver-type","io.containerd.snapshotter.v1"]]`

// parseEngine reads the @@engine section: "driver|DriverStatus JSON" and
// the containerd version. The containerd store shows in DriverStatus as
// ["driver-type", "io.containerd.snapshotter.v1"].
func parseEngine(f *Facts, lines []string) {
	if len(lines) > 0 {
		driver, status, ok := strings.Cut(lines[0], "|")
		if ok {
			f.StorageDriver = strings.TrimSpace(driver)
			f.ImageStore = ImageStoreClassic
			var kv [][]string
			_ = json.Unmarshal([]byte(status), &kv)
			for _, p := range kv {
				if len(p) == 2 && p[1] == "io.containerd.snapshotter.v1" {
					f.ImageStore = ImageStoreContainerd
				}
			}
		}
	}
	if len(lines) > 1 {
		f.ContainerdVersion = strings.TrimSpace(lines[1])
	}
}

// EncodeFacts prints f exactly as factsScript does, for test fakes and the
// benchmark's virtual nodes: ParseFacts(EncodeFacts(f)) gives f back.
// Fields ParseFacts derives (Root, ValidateSupported) follow the others;
// EnvOptions is printed as the EnvironmentFiles' lines.
func EncodeFacts(f *Facts) []byte {
	var w nodes.SectionWriter
	w.Section("os", f.OS)
	w.Section("user", f.User)
	w.Section("hostname", f.Hostname)
	w.Section("service", f.Service)
	if f.Service != "" {
		active := "inactive"
		if f.ServiceActive {
			active = "active"
		}
		w.Section("unit", "MainPID="+strconv.Itoa(f.DaemonPID), "ExecStart="+f.ExecStart, "Environment=",
			"LoadState=loaded", "ActiveState="+active, "ActiveEnterTimestampMonotonic="+f.DaemonStart)
		var env []string
		if f.EnvOptions != "" {
			env = strings.Split(f.EnvOptions, "\n")
		}
		w.Section("envfiles", env...)
	}
	w.Section("config", f.DaemonJSONPath)
	switch {
	case f.DaemonJSONTooLarge:
		w.Section("daemonjson", "toolarge "+strconv.FormatInt(f.DaemonJSONSize, 10))
	case f.DaemonJSONExists:
		w.Section("daemonjson", "present", base64.StdEncoding.EncodeToString(f.DaemonJSON))
	default:
		w.Section("daemonjson", "missing")
	}
	info := f.DockerError
	if info == "" {
		mirrors, _ := json.Marshal(f.LiveMirrors)
		info = strings.Join([]string{string(mirrors), strconv.FormatBool(f.LiveExperimental), f.DockerVersion, f.SwarmState,
			f.SwarmNodeID, f.SwarmAddr, strconv.FormatBool(f.SwarmManager)}, "|")
	}
	w.Section("info", info)
	if f.SwarmLeader {
		w.Section("leader", "true")
	} else {
		w.Section("leader")
	}
	// @@engine: facts.sh prints it only when docker answered. A store
	// is printed as a DriverStatus that names it.
	if f.DockerError == "" && (f.ImageStore != "" || f.StorageDriver != "" || f.ContainerdVersion != "") {
		driver := ""
		if f.ImageStore != "" {
			status := "null"
			if f.ImageStore == ImageStoreContainerd {
				status = snapshotterStatus
			}
			driver = f.StorageDriver + "|" + status
		}
		w.Section("engine", driver, f.ContainerdVersion)
	} else {
		w.Section("engine")
	}
	if f.CertsD != nil {
		w.Section("certsd", encodeCertsD(f.CertsD)...)
	}
	if f.DockerError == "" && f.OSType != "" {
		w.Section("platform", f.OSType+"/"+f.Architecture)
	} else {
		w.Section("platform")
	}
	w.Section("end")
	return w.Bytes()
}

func parseInfo(f *Facts, info string) {
	parts := strings.Split(info, "|")
	if len(parts) != 7 {
		f.DockerError = info
		return
	}
	_ = json.Unmarshal([]byte(parts[0]), &f.LiveMirrors)
	f.LiveExperimental = parts[1] == "true"
	f.DockerVersion = parts[2]
	f.SwarmState = parts[3]
	f.SwarmNodeID = parts[4]
	f.SwarmAddr = parts[5]
	f.SwarmManager = parts[6] == "true"
	f.ValidateSupported = majorVersion(f.DockerVersion) >= 23
}

func majorVersion(v string) int {
	m, _, _ := strings.Cut(v, ".")
	n, _ := strconv.Atoi(m)
	return n
}
