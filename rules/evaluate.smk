rule evaluate:
    """One shard of the evaluation games (shards.count a round): round k's agent plays each once (single trial)."""
    input:
        adapter="results/round{round}/adapter",
        base=base_model_input,
        games=[games_manifest(s) for s in config["eval"]["splits"]],
        signature=signature("evaluate"),
    output:
        directory("results/round{round}/shards/eval/{shard}"),
    params:
        model=agent_args(),
        games=" ".join(f"{s}={games_manifest(s)}" for s in config["eval"]["splits"]),
        e=config["eval"],
        step_limit=config["env"]["step_limit"],
        max_len=config["train"]["max_len"],
        seed=config["seed"],
    log:
        "results/logs/round{round}/evaluate/{shard}.log",
    benchmark:
        "results/benchmarks/round{round}/evaluate/{shard}.tsv"
    threads: config["shards"]["threads"]
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.evaluate {params.model} --adapter {input.adapter} --games {params.games} --shard {wildcards.shard} "
        "--out {output} --round {wildcards.round} --step-limit {params.step_limit} --max-len {params.max_len} "
        "--batch-size {params.e[batch_size]} --max-new-tokens {params.e[max_new_tokens]} --seed {params.seed} "
        "--threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"


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
        "{PY} a3t.gather episodes --shards {input.shards} --out {output.trajectories} --summary {output.summary} "
        "--round {wildcards.round} {params.previous} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
