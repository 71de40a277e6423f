# lock.sh NAME SECONDS: hold an flock on the node-wide lock NAME for as long
# as stdin stays open, waiting at most SECONDS for it (exit 75 when busy).
# Prints "locked" once the lock is held; closing stdin (unlock) or losing
# the connection ends cat and with it the lock, so a killed swarmctl never
# leaves a stale lock behind.
d=/run/lock; [ -d "$d" ] || d=/tmp
exec flock -E 75 -w "$2" "$d/swarmctl-$1.lock" sh -c 'echo locked; exec cat >/dev/null'
