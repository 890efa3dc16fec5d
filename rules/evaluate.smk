rule evaluate:
    """Single-trial success of round k's agent on the evaluation splits, overall and per task type."""
    input:
        adapter="results/round{round}/adapter",
        base=base_model_input,
        games=[games_manifest(s) for s in config["eval"]["splits"]],
        previous=previous_eval,
        signature=signature("evaluate"),
    output:
        summary="results/round{round}/eval.json",
        trajectories=directory("results/round{round}/eval"),
    params:
        model=agent_args(),
        games=" ".join(f"{s}={games_manifest(s)}" for s in config["eval"]["splits"]),
        e=config["eval"],
        step_limit=config["env"]["step_limit"],
        max_len=config["train"]["max_len"],
        seed=config["seed"],
        previous=lambda w, input: f"--previous {input.previous}" if input.previous else "",
    log:
        "results/logs/round{round}/evaluate.log",
    benchmark:
        "results/benchmarks/round{round}/evaluate.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.evaluate {params.model} --adapter {input.adapter} --games {params.games} "
        "--out {output.trajectories} --summary {output.summary} --round {wildcards.round} {params.previous} "
        "--step-limit {params.step_limit} --max-len {params.max_len} --batch-size {params.e[batch_size]} "
        "--max-new-tokens {params.e[max_new_tokens]} --seed {params.seed} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
