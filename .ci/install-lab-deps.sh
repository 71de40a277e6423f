#!/bin/sh
# Installs what test/lab and `make test` need on a clean Debian 12 machine. Run as root;
# safe to run again. No Docker engine needs to run: the lab starts its own.
set -eu
# The lab's packages (test/lab/deps.go checks the same list; a test keeps
# them equal), plus make and a C toolchain for `make test` (-race needs cgo)
# and shellcheck for `make vet` (the remote scripts).
pkgs="docker.io docker-registry debootstrap openssh-server openssh-client busybox-static
iptables ca-certificates tar gzip make gcc libc6-dev shellcheck"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
install -d -m 0755 /var/cache/swarmctl-lab
# Every lab machine's systemd holds several inotify instances; at the
# default 128 a few labs exhaust them and new machines exit at boot. The
# lab raises it too (test/lab/deps.go ensureInotify).
if [ "$(cat /proc/sys/fs/inotify/max_user_instances)" -lt 1024 ]; then
	echo 1024 > /proc/sys/fs/inotify/max_user_instances
fi
echo "lab dependencies installed"
