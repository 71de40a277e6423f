# purge-data.sh DIR: remove only what the registry wrote: its filesystem
# driver's tree (DIR/docker) and the proxy cache's scheduler state
# (DIR/scheduler-state.json), then DIR if that leaves it empty. Never an
# rm -rf of a path a user typed. Prints "kept" when other files remain.
d=$1
[ -d "$d" ] || exit 0
rm -rf -- "$d/docker"
rm -f -- "$d/scheduler-state.json"
rmdir -- "$d" 2>/dev/null || echo kept
