rule report:
    """One row per round (train success, exploration yield, dataset size, evaluation) -> results/summary.{csv,md}."""
    input:
        [f"results/round{k}/eval.json" for k in range(config["rounds"] + 1)],
        [f"results/round{k}/dataset/trajectories.jsonl" for k in range(config["rounds"] + 1)],
        [f"results/round{k}/explore/trajectories.jsonl" for k in range(1, config["rounds"] + 1)],
        [f"results/round{k}/rollouts" for k in range(1, config["rounds"] + 1)],
    output:
        csv="results/summary.csv",
        md="results/summary.md",
    params:
        rounds=" ".join(f"results/round{k}" for k in range(config["rounds"] + 1)),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.report --rounds {params.rounds} --out {output.csv} > {log} 2>&1"
