rule rollout:
    """Round k >= 1: one shard of the training tasks (shards.count a round), each played once by the round-(k-1) agent."""
    input:
        adapter=previous_adapter,
        base=base_model_input,
        gguf=previous_agent_gguf,
        games=games_manifest("train"),
        signature=signature("rollout"),
    output:
        directory("results/round{round}/shards/rollouts/{shard}"),
    wildcard_constraints:
        round=r"[1-9]\d*",
    params:
        base=base_model(),
        settings=agent_settings(),
        gguf=gguf_flag,
    log:
        "results/logs/round{round}/rollout/{shard}.log",
    benchmark:
        "results/benchmarks/round{round}/rollout/{shard}.tsv"
    threads: config["shards"]["threads"]
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.rollout --config {params.settings:q} --base {params.base} {params.gguf} --adapter {input.adapter} "
        "--games train={input.games} --shard {wildcards.shard} --out {output} --round {wildcards.round} "
        "--threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
