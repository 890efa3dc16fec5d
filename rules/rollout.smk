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
        model=agent_args(),
        gguf=gguf_flag,
        e=generation_params(),
        step_limit=config["env"]["step_limit"],
        max_len=config["train"]["max_len"],
        seed=config["seed"],
    log:
        "results/logs/round{round}/rollout/{shard}.log",
    benchmark:
        "results/benchmarks/round{round}/rollout/{shard}.tsv"
    threads: config["shards"]["threads"]
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.rollout {params.model} {params.gguf} --adapter {input.adapter} --games train={input.games} "
        "--shard {wildcards.shard} --out {output} --round {wildcards.round} --step-limit {params.step_limit} "
        "--max-len {params.max_len} --batch-size {params.e[batch_size]} --max-new-tokens {params.e[max_new_tokens]} "
        "--seed {params.seed} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
