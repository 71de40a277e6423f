# remove.sh FILE: delete FILE (the rollback of a file that did not exist).
rm -f -- "$1"
