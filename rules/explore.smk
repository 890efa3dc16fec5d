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
        model=agent_args(),
        gguf=gguf_flag,
        x=config["explore"],
        e=generation_params(),
        step_limit=config["env"]["step_limit"],
        max_len=config["train"]["max_len"],
        seed=config["seed"],
        endpoint_args=endpoint_args(config["explore"]["actre"] == "endpoint"),
    log:
        "results/logs/round{round}/explore/{shard}.log",
    benchmark:
        "results/benchmarks/round{round}/explore/{shard}.tsv"
    threads: config["shards"]["threads"]
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.explore {params.model} {params.gguf} --adapter {input.adapter} --rollouts {input.rollouts}/train.jsonl "
        "--games {input.games} --shard {wildcards.shard} --out {output} --round {wildcards.round} "
        "--samples {params.x[samples]} --early-stop {params.x[early_stop]} --p-sample {params.x[p_sample]} "
        "--temperature {params.x[temperature]} --forced {params.x[forced]} "
        "--step-limit {params.step_limit} --max-len {params.max_len} --max-new-tokens {params.e[max_new_tokens]} "
        "--batch-size {params.e[batch_size]} --seed {params.seed} --threads {threads} --actre {params.x[actre]} "
        "{params.endpoint_args} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
