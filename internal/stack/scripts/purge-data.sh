# purge-data.sh DIR: remove only what the registry wrote: its filesystem
# driver's own tree (DIR/docker/registry; DIR/docker goes only if that
# leaves it empty, since docker keeps its own data in a "docker"
# directory too) and the proxy cache's scheduler state
# (DIR/scheduler-state.json), then DIR if that leaves it empty. Never an
# rm -rf of a path a user typed, and no symbolic link on the way is
# followed. Prints "kept" when anything else remains.
d=$1
[ -e "$d" ] || [ -L "$d" ] || exit 0
if [ -L "$d" ] || [ ! -d "$d" ] || [ -L "$d/docker" ] || [ -L "$d/docker/registry" ]; then echo kept; exit 0; fi
rm -rf -- "$d/docker/registry"
rmdir -- "$d/docker" 2>/dev/null
if [ -f "$d/scheduler-state.json" ] && [ ! -L "$d/scheduler-state.json" ]; then rm -f -- "$d/scheduler-state.json"; fi
rmdir -- "$d" 2>/dev/null || echo kept
