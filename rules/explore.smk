rule explore:
    """Round k >= 1: ActRe-annotated exploration of one shard of the training tasks the round-(k-1) agent failed."""
    input:
        adapter=previous_adapter,
        base=base_model_input,
        gguf=previous_agent_gguf,
        rollouts="results/round{round}/rollouts",
        games=games_manifest("train"),
        signature=signature("explore"),
    output:
        "results/round{round}/shards/explore/{shard}/trajectories.jsonl",
    wildcard_constraints:
        round=r"[1-9]\d*",
    params:
        base=base_model(),
        settings=settings(
            [f"explore.{key}" for key in config["explore"]] + endpoint_keys(config["explore"]["actre"] == "endpoint"),
            base=agent_settings(),
        ),
        gguf=gguf_flag,
    log:
        "results/logs/round{round}/explore/{shard}.log",
    benchmark:
        "results/benchmarks/round{round}/explore/{shard}.tsv"
    threads: config["shards"]["threads"]
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.explore --config {params.settings:q} --base {params.base} {params.gguf} --adapter {input.adapter} "
        "--rollouts {input.rollouts}/train.jsonl --games {input.games} --shard {wildcards.shard} --out {output} "
        "--round {wildcards.round} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
