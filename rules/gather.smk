rule gather_rollouts:
    """Round k >= 1: the rollout shards joined (by task), with the round's train success."""
    input:
        shards=lambda w: shard_outputs("results/round{round}/shards/rollouts/{shard}", w),
        signature=signature("gather_rollouts"),
    output:
        directory("results/round{round}/rollouts"),
    wildcard_constraints:
        round=r"[1-9]\d*",
    params:
        shards=config["shards"]["count"],
    log:
        "results/logs/round{round}/gather_rollouts.log",
    benchmark:
        "results/benchmarks/round{round}/gather_rollouts.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.stages.gather episodes --shards {input.shards} --out {output} --round {wildcards.round} > {log} 2>&1 "
        "&& {PY} a3t.signatures {input.signature}"


rule gather_explore:
    """Round k >= 1: the exploration shards joined (by task and sample)."""
    input:
        shards=lambda w: shard_outputs("results/round{round}/shards/explore/{shard}/trajectories.jsonl", w),
        signature=signature("gather_explore"),
    output:
        "results/round{round}/explore/trajectories.jsonl",
    wildcard_constraints:
        round=r"[1-9]\d*",
    params:
        shards=config["shards"]["count"],
    log:
        "results/logs/round{round}/gather_explore.log",
    benchmark:
        "results/benchmarks/round{round}/gather_explore.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.stages.gather explore --shards {input.shards} --out {output} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"


rule gather_eval:
    """Single-trial success of round k's agent on the evaluation splits, overall and per task type, from its
    shards; with the round before's eval.json, the accumulated success."""
    input:
        shards=lambda w: shard_outputs("results/round{round}/shards/eval/{shard}", w),
        previous=previous_eval,
        signature=signature("gather_eval"),
    output:
        summary="results/round{round}/eval.json",
        trajectories=directory("results/round{round}/eval"),
    params:
        shards=config["shards"]["count"],
        previous=lambda w, input: f"--previous {input.previous}" if input.previous else "",
    log:
        "results/logs/round{round}/gather_eval.log",
    benchmark:
        "results/benchmarks/round{round}/gather_eval.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.stages.gather episodes --shards {input.shards} --out {output.trajectories} --summary {output.summary} "
        "--round {wildcards.round} {params.previous} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
