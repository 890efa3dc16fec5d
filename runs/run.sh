#!/bin/bash
# Start or resume a long run of the workflow at a fixed commit, in its own worktree, in the background: it survives
# this shell, appends to <dir>.log, and records each start and end in <dir>.times. Snakemake resumes where a
# killed run stopped (--rerun-incomplete redoes a job cut in the middle). One run per folder (<dir>.lock).
#   bash runs/run.sh <commit> <dir> [snakemake arguments ...]
#   bash runs/run.sh 165f28b /work/run-default-seed1 --config seed=1
set -euo pipefail
commit=$1; dest=$2; shift 2
args=""; if (($#)); then args=$(printf '%q ' "$@"); fi   # printf alone turns no arguments into ''
repo=$(git rev-parse --show-toplevel)
test -x "$repo/.venv/bin/snakemake" || make -C "$repo" .venv/.installed
test -e "$dest" || git -C "$repo" worktree add --detach "$dest" "$commit"
test "$(git -C "$dest" rev-parse HEAD)" = "$(git -C "$repo" rev-parse "$commit")" || { echo "$dest is not at $commit" >&2; exit 2; }
exec 9> "$dest.lock"
flock -n 9 || { echo "a run is going on in $dest already ($dest.lock is held)" >&2; exit 2; }
exec 9>&-
cat > "$dest.sh" <<SCRIPT
#!/bin/bash
exec 9> $dest.lock
flock -n 9 || exit 2   # one run per folder: a second would unlock and race the first
cd $dest
export PYTHONPATH=$dest/src
echo "start \$(date -u +%FT%T) commit $commit args: $args" >> $dest.times
$repo/.venv/bin/snakemake --unlock >> $dest.log 2>&1
/usr/bin/time -v $repo/.venv/bin/snakemake --cores 2 --rerun-incomplete $args>> $dest.log 2>&1 || true
echo "end \$(date -u +%FT%T)" >> $dest.times
SCRIPT
chmod +x "$dest.sh"
nohup setsid "$dest.sh" > /dev/null 2>&1 &
echo "running in $dest (log $dest.log, times $dest.times)"
