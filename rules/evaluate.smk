rule evaluate:
    """One shard of the evaluation games (shards.count a round): round k's agent plays each once (single trial); the real
    ALFWorld splits only in eval.alfworld_rounds (empty: all)."""
    input:
        adapter="results/round{round}/adapter",
        base=base_model_input,
        gguf=agent_gguf,
        games=lambda w: [games_manifest(s) for s in eval_splits(w.round)],
        signature=signature("evaluate"),
    output:
        directory("results/round{round}/shards/eval/{shard}"),
    params:
        base=base_model(),
        settings=agent_settings(),
        gguf=gguf_flag,
        games=lambda w: " ".join(f"{s}={games_manifest(s)}" for s in eval_splits(w.round)),
    log:
        "results/logs/round{round}/evaluate/{shard}.log",
    benchmark:
        "results/benchmarks/round{round}/evaluate/{shard}.tsv"
    threads: config["shards"]["threads"]
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.evaluate --config {params.settings:q} --base {params.base} {params.gguf} --adapter {input.adapter} "
        "--games {params.games} --shard {wildcards.shard} --out {output} --round {wildcards.round} "
        "--threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
