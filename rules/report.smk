rule report:
    """Per round and task type: evaluation, train success, exploration yield, dataset -> results/summary.{csv,md} and plots."""
    input:
        [f"results/round{k}/eval.json" for k in range(config["rounds"] + 1)],
        [f"results/round{k}/dataset/trajectories.jsonl" for k in range(config["rounds"] + 1)],
        [f"results/round{k}/explore/trajectories.jsonl" for k in range(1, config["rounds"] + 1)],
        [f"results/round{k}/rollouts" for k in range(1, config["rounds"] + 1)],
        signature=signature("report"),
    output:
        csv=report("results/summary.csv", caption="../report/summary.rst", category="Summary"),
        md="results/summary.md",
        success=report("results/plots/success.png", caption="../report/success.rst", category="Plots"),
        dataset=report("results/plots/dataset.png", caption="../report/dataset.rst", category="Plots"),
        exploration=report("results/plots/exploration.png", caption="../report/exploration.rst", category="Plots"),
    params:
        rounds=" ".join(f"results/round{k}" for k in range(config["rounds"] + 1)),
        plots=lambda w, output: os.path.dirname(output.success),
        reference=" ".join(f"'{label}={rate}'" for label, rate in config["report"]["reference"].items()),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.stages.report --rounds {params.rounds} --out {output.csv} --plots {params.plots} "
        "--reference {params.reference} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
