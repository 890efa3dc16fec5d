rule filter:
    """Round k >= 1: keep the successes, and the agent's failures of tasks that have filter.min_successes of them."""
    input:
        rollouts="results/round{round}/rollouts",
        explore="results/round{round}/explore/trajectories.jsonl",
        previous=previous_dataset,
        signature=signature("filter"),
    output:
        "results/round{round}/filtered/trajectories.jsonl",
    wildcard_constraints:
        round=r"[1-9]\d*",
    params:
        # min_successes only matters when failures are kept
        settings=settings(["filter.keep_failures"] + (["filter.min_successes"] if config["filter"]["keep_failures"] else [])),
    log:
        "results/logs/round{round}/filter.log",
    benchmark:
        "results/benchmarks/round{round}/filter.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.stages.filter --rollouts {input.rollouts}/train.jsonl --explore {input.explore} "
        "--previous {input.previous} --config {params.settings:q} --out {output} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
