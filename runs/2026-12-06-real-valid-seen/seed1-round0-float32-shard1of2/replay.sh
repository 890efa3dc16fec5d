#!/bin/bash
# As it was run (2026-12-06 23:16-23:47; its output copied here): seed 1's round-0 agent in float32 on shard 1 of 2
# of the real valid_seen games (70, by sorted task id), to set beside the same agent's bfloat16 episodes (../seed1/round0)
set -euo pipefail
while pgrep -f "a3t.stages.evaluate" >/dev/null; do sleep 10; done
cd /work/run-default-seed1
export PYTHONPATH=$PWD/src ALFWORLD_DATA=/work/shared/alfworld OMP_WAIT_POLICY=PASSIVE
settings=$(python3 -c 'import json; s=json.load(open("results/round0/shards/eval/1of2/manifest.json"))["config"]["settings"]; s["model"]["compute_dtype"]="float32"; print(json.dumps(s))')
out=/work/real-seed1-fp32/round0; mkdir -p $out
echo "started $(date -u +%FT%T)"
/usr/bin/time -v /work/main/.venv/bin/python -m a3t.stages.evaluate --config "$settings" --base results/base_model \
  --adapter results/round0/adapter --round 0 --games "alfworld_valid_seen=results/games/alfworld_valid_seen/manifest.csv" \
  --shard 1of2 --threads 2 --out $out/eval --summary $out/eval.json 2> $out/time.log
echo "done $(date -u +%FT%T)"
