rule dataset_round0:
    """Round 0's dataset: the teacher's successful demonstrations (of the training tasks and teacher.extra_splits)."""
    input:
        add=["results/round0/teacher/trajectories.jsonl"]
        + [f"results/round0/teacher_{s}/trajectories.jsonl" for s in config["teacher"]["extra_splits"]],
        signature=signature("dataset_round0"),
    output:
        "results/round0/dataset/trajectories.jsonl",
    log:
        "results/logs/round0/dataset.log",
    benchmark:
        "results/benchmarks/round0/dataset.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.stages.dataset --add {input.add} --out {output} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"


rule dataset:
    """Round k >= 1: the contrastive dataset, round k's kept trajectories added to round k-1's."""
    input:
        add="results/round{round}/filtered/trajectories.jsonl",
        previous=previous_dataset,
        signature=signature("dataset"),
    output:
        "results/round{round}/dataset/trajectories.jsonl",
    wildcard_constraints:
        round=r"[1-9]\d*",
    log:
        "results/logs/round{round}/dataset.log",
    benchmark:
        "results/benchmarks/round{round}/dataset.tsv"
    threads: 1
    resources:
        mem_mb=1000,
    shell:
        "{PY} a3t.stages.dataset --add {input.add} --previous {input.previous} --out {output} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
