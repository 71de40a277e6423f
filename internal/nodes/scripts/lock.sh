# lock.sh NAME SECONDS DIR: hold an flock on the node-wide lock NAME for as
# long as stdin stays open, waiting at most SECONDS for it (exit 75 when
# busy). Prints "locked" once the lock is held; closing stdin (unlock) or
# losing the connection ends cat and with it the lock, so a killed swarmctl
# never leaves a stale lock behind. The lock file lives in DIR (as root; a
# user without sudo: $XDG_RUNTIME_DIR/swarmctl), a directory only that user
# may write (mode 0700, not a link): in a world-writable one (/run/lock,
# /tmp) any local user could hold the lock forever or plant a link. Such a
# directory is refused (exit 76).
if [ "$(id -u)" = 0 ]; then d=$3; else d=${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/swarmctl; fi
mkdir -m 0700 -- "$d" 2>/dev/null
if [ -L "$d" ] || [ ! -d "$d" ] || [ "$(stat -c %u:%a -- "$d")" != "$(id -u):700" ]; then
  echo "$d is not a directory of $(id -un) with mode 0700 (a link, or open to others): refusing to take the lock there; remove it" >&2
  exit 76
fi
exec flock -E 75 -w "$2" "$d/$1.lock" sh -c 'echo locked; exec cat >/dev/null'
