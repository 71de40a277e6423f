package lab

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
)

// Layouts a lab can give its machines.
const (
	// LayoutDockerLatest is an old Atomic host: docker-latest.service runs
	// dockerd with /etc/docker-latest/daemon.json; docker.service is masked.
	LayoutDockerLatest = "docker-latest"
	// LayoutDocker is the stock docker.service with /etc/docker/daemon.json.
	LayoutDocker = "docker"
)

// firstBoot makes what must differ between machines and so is never in
// the image: SSH host keys. It also hands the ops user its key files
// (docker cp writes them as root), and adds the lab CA to the system trust
// store before docker starts (dockerd reads the system roots once), as a
// real host trusts the public CAs. It appends the CA to the bundle Go and
// OpenSSL read rather than running update-ca-certificates (about 10 s of
// CPU per machine); the copy in /usr/local/share/ca-certificates keeps it
// there when the bundle is rebuilt.
const firstBoot = `#!/bin/sh
set -eu
ssh-keygen -A
chown -R ops:ops /home/ops/.ssh
chmod 0700 /root/.ssh /home/ops/.ssh
chmod 0600 /root/.ssh/authorized_keys /home/ops/.ssh/authorized_keys
ca=/usr/local/share/ca-certificates/swarmctl-lab-ca.crt
bundle=/etc/ssl/certs/ca-certificates.crt
if [ -f "$ca" ] && ! grep -qxF "$(sed -n 2p "$ca")" "$bundle"; then
  cat "$ca" >>"$bundle"
fi
`

const firstBootUnit = `[Unit]
Description=Lab machine first boot (SSH host keys, lab CA)
DefaultDependencies=no
After=local-fs.target
Before=ssh.service docker.service docker-latest.service sysinit.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/local/sbin/lab-firstboot

[Install]
WantedBy=sysinit.target
`

// dockerLatestUnit is Debian's docker.service pointed at the docker-latest
// config file, as on Atomic hosts.
const dockerLatestUnit = `[Unit]
Description=Docker Application Container Engine (docker-latest)
Documentation=https://docs.docker.com
After=network-online.target docker-latest.socket firewalld.service containerd.service
Wants=network-online.target containerd.service
Requires=docker-latest.socket

[Service]
Type=notify
EnvironmentFile=-/etc/sysconfig/docker-latest
ExecStart=/usr/sbin/dockerd -H fd:// --containerd=/run/containerd/containerd.sock --config-file /etc/docker-latest/daemon.json $OPTIONS
ExecReload=/bin/kill -s HUP $MAINPID
LimitNOFILE=1048576
LimitNPROC=infinity
LimitCORE=infinity
TasksMax=infinity
TimeoutStartSec=0
Delegate=yes
KillMode=process
Restart=on-failure
StartLimitBurst=3
StartLimitInterval=60s

[Install]
WantedBy=multi-user.target
`

// dockerLatestSocket: -H fd:// needs a socket unit of the service's name.
const dockerLatestSocket = `[Unit]
Description=Docker Socket for the API (docker-latest)
PartOf=docker-latest.service

[Socket]
ListenStream=/run/docker.sock
SocketMode=0660
SocketUser=root
SocketGroup=docker

[Install]
WantedBy=sockets.target
`

const sshdLabConf = `# swarmctl lab: key login only; many parallel sessions in tests.
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
MaxStartups 100:30:200
MaxSessions 50
`

// unitsMasked are timers and services that only burn CPU in a lab, and
// systemd-modules-load, which fails in a container (trixie's runs and
// leaves the machine "degraded").
var unitsMasked = []string{
	"apt-daily.timer", "apt-daily-upgrade.timer", "dpkg-db-backup.timer",
	"e2scrub_all.timer", "e2scrub_reap.service", "fstrim.timer",
	"getty@tty1.service", "console-getty.service", "systemd-pstore.service",
	"systemd-modules-load.service",
}

// machineOverlay is added to the debootstrapped tree to make the image.
// Paths are under usr/ because the tree is usr-merged (lib -> usr/lib).
func machineOverlay() []tarEntry {
	ents := []tarEntry{
		{name: "usr/local/sbin/lab-firstboot", mode: 0o755, body: []byte(firstBoot)},
		{name: "etc/systemd/system/lab-firstboot.service", mode: 0o644, body: []byte(firstBootUnit)},
		{name: "etc/systemd/system/sysinit.target.wants/lab-firstboot.service", link: "/etc/systemd/system/lab-firstboot.service"},
		{name: "etc/ssh/sshd_config.d/lab.conf", mode: 0o644, body: []byte(sshdLabConf)},
	}
	for _, u := range unitsMasked {
		ents = append(ents, tarEntry{name: "etc/systemd/system/" + u, link: "/dev/null"})
	}
	return ents
}

// DaemonJSON is the daemon.json a classic-store machine starts with:
// swarmctl must keep every key of it. The two layouts use different
// indentation so tests see that swarmctl keeps the file's style.
func DaemonJSON(layout string) string { return DaemonJSONFor(layout, StoreClassic) }

// DaemonJSONFor is the daemon.json a machine of that layout and image
// store starts with. The containerd store is chosen at boot by
// "features": {"containerd-snapshotter": true}; its snapshotter is native
// (overlayfs does not nest on the lab's storage), the classic store's
// graphdriver vfs.
func DaemonJSONFor(layout, store string) string {
	if store == StoreContainerd {
		if layout == LayoutDocker {
			return "{\n  \"features\": {\"containerd-snapshotter\": true},\n  \"storage-driver\": \"native\",\n  \"log-driver\": \"journald\",\n  \"labels\": [\"lab=swarmctl\"]\n}\n"
		}
		return "{\n    \"features\": {\n        \"containerd-snapshotter\": true\n    },\n    \"storage-driver\": \"native\",\n    \"log-driver\": \"journald\",\n    \"labels\": [\n        \"lab=swarmctl\"\n    ]\n}\n"
	}
	if layout == LayoutDocker {
		return "{\n  \"storage-driver\": \"vfs\",\n  \"log-driver\": \"journald\",\n  \"labels\": [\"lab=swarmctl\"]\n}\n"
	}
	return "{\n    \"storage-driver\": \"vfs\",\n    \"log-driver\": \"journald\",\n    \"labels\": [\n        \"lab=swarmctl\"\n    ]\n}\n"
}

// StorageDriver is the driver docker info reports for a machine of that
// image store.
func StorageDriver(store string) string {
	if store == StoreContainerd {
		return "native"
	}
	return "vfs"
}

// DaemonJSONPath is where a machine of the layout keeps its daemon.json.
func DaemonJSONPath(layout string) string {
	if layout == LayoutDocker {
		return "/etc/docker/daemon.json"
	}
	return "/etc/docker-latest/daemon.json"
}

// machineFiles are copied into one machine before its first start: its
// machine-id, the lab key as authorized_keys, the lab CA, and the layout (a stock
// docker machine has no docker-latest units at all).
func machineFiles(layout, store, pubKey string, caPEM []byte) ([]tarEntry, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	auth := []byte(strings.TrimSpace(pubKey) + "\n")
	ents := []tarEntry{
		{name: "etc/machine-id", mode: 0o444, body: []byte(hex.EncodeToString(id) + "\n")},
		{name: "root/.ssh", dir: true, mode: 0o700},
		{name: "root/.ssh/authorized_keys", mode: 0o600, body: auth},
		{name: "home/ops/.ssh", dir: true, mode: 0o700},
		{name: "home/ops/.ssh/authorized_keys", mode: 0o600, body: auth},
	}
	if len(caPEM) > 0 {
		ents = append(ents, tarEntry{name: caFileName, mode: 0o644, body: caPEM})
	}
	const sys = "etc/systemd/system/"
	switch layout {
	case LayoutDockerLatest:
		ents = append(ents,
			tarEntry{name: "usr/lib/systemd/system/docker-latest.service", mode: 0o644, body: []byte(dockerLatestUnit)},
			tarEntry{name: "usr/lib/systemd/system/docker-latest.socket", mode: 0o644, body: []byte(dockerLatestSocket)},
			tarEntry{name: "etc/docker-latest", dir: true, mode: 0o755},
			tarEntry{name: "etc/docker-latest/daemon.json", mode: 0o644, body: []byte(DaemonJSONFor(layout, store))},
			tarEntry{name: sys + "docker.service", link: "/dev/null"},
			tarEntry{name: sys + "docker.socket", link: "/dev/null"},
			tarEntry{name: sys + "multi-user.target.wants/docker-latest.service", link: "/usr/lib/systemd/system/docker-latest.service"},
			tarEntry{name: sys + "sockets.target.wants/docker-latest.socket", link: "/usr/lib/systemd/system/docker-latest.socket"},
		)
	case LayoutDocker:
		ents = append(ents,
			tarEntry{name: "etc/docker", dir: true, mode: 0o755},
			tarEntry{name: "etc/docker/daemon.json", mode: 0o644, body: []byte(DaemonJSONFor(layout, store))},
			tarEntry{name: sys + "multi-user.target.wants/docker.service", link: "/usr/lib/systemd/system/docker.service"},
			tarEntry{name: sys + "sockets.target.wants/docker.socket", link: "/usr/lib/systemd/system/docker.socket"},
		)
	default:
		return nil, fmt.Errorf("unknown layout %q (want %s or %s)", layout, LayoutDockerLatest, LayoutDocker)
	}
	return ents, nil
}

// readyScript waits inside a machine (one docker exec, no polling from
// outside) until sshd runs with fresh host keys and docker answers, then
// prints the public host keys. The loop uses cheap checks (systemctl) and
// asks docker itself only once its unit is up, so that 20 booting machines
// on 2 cores do not spend their CPU on polling.
const readyScript = `deadline=$(( $(date +%s) + 600 ))
while :; do
  if [ -s /etc/ssh/ssh_host_ed25519_key.pub ] && systemctl is-active -q ssh &&
     { systemctl is-active -q docker.service || systemctl is-active -q docker-latest.service; } &&
     docker info >/dev/null 2>&1; then
    break
  fi
  if [ "$(date +%s)" -gt "$deadline" ]; then
    echo "machine not ready after 600s:"; systemctl --failed --no-legend --no-pager; systemctl status ssh docker docker-latest --no-pager 2>&1 | tail -n 30
    exit 1
  fi
  sleep 0.3
done
cat /etc/ssh/ssh_host_ed25519_key.pub /etc/ssh/ssh_host_ecdsa_key.pub /etc/ssh/ssh_host_rsa_key.pub
`

// nodesReadyScript waits on a manager until $1 swarm nodes are Ready.
const nodesReadyScript = `want=$1; deadline=$(( $(date +%s) + 300 ))
while :; do
  n=$(docker node ls --format '{{.Status}}' 2>/dev/null | grep -c '^Ready$' || true)
  [ "$n" -ge "$want" ] && exit 0
  if [ "$(date +%s)" -gt "$deadline" ]; then echo "only $n of $want swarm nodes Ready after 300s:"; docker node ls; exit 1; fi
  sleep 0.5
done
`
