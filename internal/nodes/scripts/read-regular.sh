# read-regular.sh PATH: print PATH unless it is a symbolic link or not a
# regular file (exit 3): what a link points at is never read.
if [ -L "$1" ] || { [ -e "$1" ] && [ ! -f "$1" ]; }; then exit 3; fi
exec cat -- "$1"
