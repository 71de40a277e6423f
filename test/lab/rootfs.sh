# Builds a lab machine's root filesystem as a tarball. Runs as root with
# ROOT, SUITE, MIRROR, PACKAGES (comma separated), SID_PACKAGES (space
# separated, may be empty) and OUT set. Host keys and machine-id are
# removed so that every machine makes its own at first boot. Changing this
# file changes the cache key of every engine's image.
set -eu
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" "$MIRROR"
if [ -n "$SID_PACKAGES" ]; then
  # A second suite pinned low: only what is asked for (and what it needs
  # that the base cannot give) comes from sid. The archive here is a dated
  # snapshot, hence Check-Valid-Until.
  cat >"$ROOT/etc/apt/sources.list.d/sid.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  printf 'Package: *\nPin: release n=sid\nPin-Priority: 100\n' >"$ROOT/etc/apt/preferences.d/sid"
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
  chroot "$ROOT" apt-get -q -o Acquire::Check-Valid-Until=false update
  # shellcheck disable=SC2086 # a list of package names
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get -q -y -o Acquire::Check-Valid-Until=false \
    install --no-install-recommends -t sid $SID_PACKAGES
  rm -f "$ROOT/usr/sbin/policy-rc.d"
fi
chroot "$ROOT" /bin/sh -eu -c '
useradd --create-home --shell /bin/bash --uid 1000 --user-group ops
usermod -p "*" ops
echo "ops ALL=(ALL) NOPASSWD:ALL" >/etc/sudoers.d/ops
chmod 0440 /etc/sudoers.d/ops
install -d -m 0700 /root/.ssh
install -d -m 0700 -o ops -g ops /home/ops/.ssh
apt-get clean
'
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* "$ROOT"/usr/share/doc/* \
  "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/var/log/*.log
rm -f "$ROOT"/etc/ssh/ssh_host_* "$ROOT"/var/lib/dbus/machine-id
: >"$ROOT"/etc/machine-id
tar -C "$ROOT" --numeric-owner -cf "$OUT.tmp" .
mv "$OUT.tmp" "$OUT"
