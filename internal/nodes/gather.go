package nodes

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// factsScript learns everything swarmctl needs about a node in one command.
// $1 forces the docker service name, $2 the daemon.json path ("" = detect).
// Each section starts with a line "@@name"; file content is base64 so any
// bytes survive. It needs only sh, coreutils, systemd and docker.
const factsScript = `set +e
LC_ALL=C; export LC_ALL
svc=$1; cfg=$2
if [ -n "$svc" ]; then set -- "$svc.service"; else set -- docker-latest.service docker.service; fi
# One systemctl call for the unit (each call costs a D-Bus round trip).
# awk picks the first candidate that is loaded and not masked, and prints:
# its name, the --config-file its ExecStart passes, then the @@unit and
# @@envfiles sections: the lines of its EnvironmentFiles that can carry
# dockerd flags, *OPTIONS and the registry variables RHEL/Atomic units
# expand ($INSECURE_REGISTRY, $ADD_REGISTRY, $BLOCK_REGISTRY, $REGISTRIES).
# Which of them ExecStart really expands is decided by the caller.
unit=$(systemctl show -p LoadState -p UnitFileState -p ActiveState -p MainPID -p ActiveEnterTimestampMonotonic -p ExecStart -p Environment -p EnvironmentFiles "$@" 2>/dev/null | awk -v forced="$svc" '
BEGIN { RS = ""; FS = "\n"; split("docker-latest docker", cand, " ") }
!done {
  load = ""; ufs = ""
  for (i = 1; i <= NF; i++) {
    if (index($i, "LoadState=") == 1) load = substr($i, 11)
    else if (index($i, "UnitFileState=") == 1) ufs = substr($i, 15)
  }
  if (forced != "" || (load == "loaded" && ufs !~ /^masked/)) { done = 1; blk = $0; name = cand[NR] }
}
END {
  n = split(blk, l, "\n"); c = ""
  for (i = 1; i <= n; i++) if (index(l[i], "ExecStart=") == 1) {
    m = split(l[i], w, /[ ;]+/)
    for (j = 1; j <= m; j++) {
      if (index(w[j], "--config-file=") == 1) { c = substr(w[j], 15); break }
      if (w[j] == "--config-file" && j < m) { c = w[j + 1]; break }
    }
    break
  }
  print name; print c; print "@@unit"
  for (i = 1; i <= n; i++) print l[i]
  print "@@envfiles"
  RS = "\n"
  for (i = 1; i <= n; i++) if (index(l[i], "EnvironmentFiles=") == 1) {
    f = substr(l[i], 18); sub(/ .*/, "", f); sub(/^-/, "", f)
    while ((getline x < f) > 0)
      if (x ~ /^[ \t]*[A-Za-z_]*OPTIONS/ || x ~ /^[ \t]*(INSECURE_REGISTRY|ADD_REGISTRY|BLOCK_REGISTRY|REGISTRIES)[ \t]*=/) print x
    close(f)
  }
}')
nl='
'
name=${unit%%"$nl"*}; unit=${unit#*"$nl"}
c=${unit%%"$nl"*}; unit=${unit#*"$nl"}
[ -z "$svc" ] && svc=$name
[ -z "$cfg" ] && cfg=$c
echo "@@os"; ( . /etc/os-release 2>/dev/null; echo "$PRETTY_NAME" )
echo "@@user"; echo "${SUDO_USER:-$(id -un)}"
echo "@@hostname"; hostname 2>/dev/null || cat /etc/hostname
echo "@@service"; echo "$svc"
[ -n "$svc" ] && printf '%s\n' "$unit"
if [ -z "$cfg" ]; then
  if [ "$svc" = docker-latest ]; then cfg=/etc/docker-latest/daemon.json; else cfg=/etc/docker/daemon.json; fi
fi
echo "@@config"; echo "$cfg"
echo "@@daemonjson"
if [ -f "$cfg" ]; then echo present; base64 < "$cfg" | tr -d '\n'; echo; else echo missing; fi
echo "@@info"
info=$(docker info --format '{{json .RegistryConfig.Mirrors}}|{{json .ExperimentalBuild}}|{{.ServerVersion}}|{{.Swarm.LocalNodeState}}|{{.Swarm.NodeID}}|{{.Swarm.NodeAddr}}|{{.Swarm.ControlAvailable}}' 2>&1 | head -n 1)
echo "$info"
echo "@@leader"
# Only managers can be leader: a docker CLI run costs as much as docker info.
case "$info" in *'|true') docker node inspect self --format '{{if .ManagerStatus}}{{.ManagerStatus.Leader}}{{end}}' 2>/dev/null;; esac
echo "@@end"
`

// GatherFacts learns a node's facts in one remote command (run as root).
// service and configPath override detection when not empty.
func GatherFacts(ctx context.Context, h Host, service, configPath string) (*Facts, error) {
	out, err := h.Run(ctx, Cmd{Script: factsScript, ScriptArgs: []string{service, configPath}, Sudo: true})
	if err != nil {
		return nil, err
	}
	return ParseFacts(out.Stdout)
}

// ParseFacts parses factsScript's output.
func ParseFacts(out []byte) (*Facts, error) {
	sections := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "@@") {
			cur = line[2:]
			sections[cur] = nil
			continue
		}
		if cur != "" {
			sections[cur] = append(sections[cur], line)
		}
	}
	if _, ok := sections["end"]; !ok {
		return nil, fmt.Errorf("node facts: output incomplete (%d bytes)", len(out))
	}
	first := func(k string) string {
		if v := sections[k]; len(v) > 0 {
			return strings.TrimSpace(v[0])
		}
		return ""
	}
	f := &Facts{
		OS:             first("os"),
		User:           first("user"),
		Hostname:       first("hostname"),
		Service:        first("service"),
		DaemonJSONPath: first("config"),
		EnvOptions:     strings.Join(sections["envfiles"], "\n"),
		SwarmLeader:    first("leader") == "true",
	}
	f.Root = f.User == "root"
	for _, l := range sections["unit"] {
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
	if dj := sections["daemonjson"]; len(dj) > 0 && dj[0] == "present" {
		f.DaemonJSONExists = true
		if len(dj) > 1 {
			b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(dj[1]))
			if err != nil {
				return nil, fmt.Errorf("node facts: decoding %s: %w", f.DaemonJSONPath, err)
			}
			f.DaemonJSON = b
		}
	}
	parseInfo(f, first("info"))
	return f, nil
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
