# facts.sh [SERVICE [DAEMON_JSON]]: everything swarmctl needs to know about
# a node, in one command. SERVICE forces the docker unit, DAEMON_JSON the
# daemon.json path ("" = detect both). Each section starts with a line
# "@@name" (see nodes.Sections); file content is base64 so any bytes
# survive. Needs only sh, coreutils, systemd and docker.
# shellcheck disable=SC1091 # it sources the node's own /etc/os-release
set +e
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
if [ -f "$cfg" ]; then
  # Over MaxDaemonJSON (1 MiB) only the size is sent.
  sz=$(stat -L -c %s -- "$cfg" 2>/dev/null || echo 0)
  if [ "$sz" -gt 1048576 ]; then echo "toolarge $sz"; else echo present; base64 < "$cfg" | tr -d '\n'; echo; fi
else echo missing; fi
echo "@@info"
# The second line (storage driver and DriverStatus, which names the
# containerd snapshotter on the containerd image store) goes to @@engine.
# The third (OSType/Architecture: the platform images are picked for) goes
# to @@platform.
info=$(docker info --format '{{json .RegistryConfig.Mirrors}}|{{json .ExperimentalBuild}}|{{.ServerVersion}}|{{.Swarm.LocalNodeState}}|{{.Swarm.NodeID}}|{{.Swarm.NodeAddr}}|{{.Swarm.ControlAvailable}}{{"\n"}}{{.Driver}}|{{json .DriverStatus}}{{"\n"}}{{.OSType}}/{{.Architecture}}' 2>&1 | head -n 3)
first=${info%%"$nl"*}
platform=
case "$info" in *"$nl"*"$nl"*) platform=${info##*"$nl"}; info=${info%"$nl"*};; esac
echo "$first"
echo "@@leader"
# Only managers can be leader: a docker CLI run costs as much as docker info.
case "$first" in *'|true') docker node inspect self --format '{{if .ManagerStatus}}{{.ManagerStatus.Leader}}{{end}}' 2>/dev/null;; esac
echo "@@engine"
# Only when docker answered: containerd's version is in docker version's
# components (docker info has only a commit, empty on some builds).
case "$first" in *'|'*)
  if [ "$first" != "$info" ]; then printf '%s\n' "${info#*"$nl"}"; else echo; fi
  docker version --format '{{range .Server.Components}}{{if eq .Name "containerd"}}{{.Version}}{{end}}{{end}}' 2>/dev/null;;
esac
echo "@@certsd"
# /etc/docker/certs.d, one line per entry, nothing followed through a
# symbolic link: "L NAME" a linked directory, "D NAME" a directory, then
# its entries: "l NAME" link, "o NAME" not a regular file, "n NAME" any
# other file, "f NAME BASE64" hosts.toml or ca.crt (read for swarmctl's
# edits), "big NAME" one of them over 1 MiB. "L ." when certs.d itself is
# a link. Names holding a line break are left out.
certs=/etc/docker/certs.d
if [ -L "$certs" ]; then echo "L ."
elif [ -d "$certs" ]; then
  for d in "$certs"/*; do
    n=${d##*/}
    case "$n" in *"$nl"*) continue;; esac
    if [ -L "$d" ]; then echo "L $n"; continue; fi
    [ -d "$d" ] || continue
    echo "D $n"
    for e in "$d"/*; do
      b=${e##*/}
      case "$b" in *"$nl"*) continue;; esac
      if [ -L "$e" ]; then echo "l $b"
      elif [ ! -e "$e" ]; then continue
      elif [ ! -f "$e" ]; then echo "o $b"
      else
        case "$b" in
          hosts.toml|ca.crt)
            sz=$(stat -c %s -- "$e" 2>/dev/null || echo 0)
            if [ "$sz" -gt 1048576 ]; then echo "big $b"; else printf 'f %s %s\n' "$b" "$(base64 < "$e" | tr -d '\n')"; fi;;
          *) echo "n $b";;
        esac
      fi
    done
  done
fi
echo "@@platform"
case "$first" in *'|'*) printf '%s\n' "$platform";; esac
echo "@@end"
