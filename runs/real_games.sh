#!/bin/bash
# ALFWorld's real valid_seen games for a finished run's rounds (0 and 4 unless named), with the run's own code and
# evaluation settings (its seed included), apart from its job times, into a folder that `a3t pool` reads beside the
# other seeds' (`a3t pool /work/real-seed0 /work/real-seed1`). A round already played is skipped, so it resumes.
# COMPUTE_DTYPE=float32 overrides the run's model.compute_dtype: a bfloat16 run played on a CPU without native
# bfloat16 (an AVX2 CPU computes it 30-100x slower); its outcomes may then differ from the run's own dtype's.
#   bash runs/real_games.sh <run dir> <out dir> [round ...]
#   bash runs/real_games.sh /work/run-default-seed1 /work/real-seed1 0 4
set -euo pipefail
run=$(realpath "$1"); out=$2; shift 2
rounds=("$@"); ((${#rounds[@]})) || rounds=(0 4)
repo=$(git rev-parse --show-toplevel)   # run from the repository, as runs/run.sh
cd "$run"
export PYTHONPATH=$run/src ALFWORLD_DATA=${ALFWORLD_DATA:-/work/shared/alfworld} OMP_WAIT_POLICY=PASSIVE
games=results/games/alfworld_valid_seen/manifest.csv
"$repo/.venv/bin/snakemake" --cores 2 "$games" --configfile config/experiments/smollm2-real.yaml
first_shard=(results/round0/shards/eval/1of*/manifest.json)   # 1of2 in the default, 1of8 in a run with 8 shards
settings=$("$repo/.venv/bin/python" -c '
import json, sys
settings = json.load(open(sys.argv[1]))["config"]["settings"]
if sys.argv[2]:
    settings.setdefault("model", {})["compute_dtype"] = sys.argv[2]
print(json.dumps(settings))' "${first_shard[0]}" "${COMPUTE_DTYPE:-}")
for k in "${rounds[@]}"; do
  if test -f "$out/round$k/eval.json"; then echo "round $k: $out/round$k/eval.json is there already"; continue; fi
  test -d "results/round$k/adapter" || { echo "$run/results/round$k/adapter: no such adapter (has round $k finished?)" >&2; exit 2; }
  mkdir -p "$out/round$k"
  echo "round $k: started $(date -u +%FT%T)"
  /usr/bin/time -v "$repo/.venv/bin/python" -m a3t.stages.evaluate --config "$settings" --base results/base_model \
    --adapter "results/round$k/adapter" --round "$k" --games "alfworld_valid_seen=$games" --threads 2 \
    --out "$out/round$k/eval" --summary "$out/round$k/eval.json" 2> "$out/round$k/time.log"
  echo "round $k: done $(date -u +%FT%T)"
done
