rule train:
    """QLoRA on round k's dataset: SFT on the teacher's demonstrations in round 0, then binarized-reward
    policy gradient on the accumulated contrastive dataset (a fresh adapter each round, or the round before's
    continued: train.warm_start)."""
    input:
        data="results/round{round}/dataset/trajectories.jsonl",
        base=base_model_input,
        init=warm_start_adapter,
        signature=signature("train"),
    output:
        directory("results/round{round}/adapter"),
    params:
        base=base_model(),
        settings=train_settings,
        init=init_adapter_flag,
        actre=actre_flag(),
    log:
        "results/logs/round{round}/train.log",
    benchmark:
        "results/benchmarks/round{round}/train.tsv"
    threads: 2
    resources:
        # the built base (scratch.yaml): about 2 GB; SmolLM2, LoRA on every linear, 2 sequences a pass: 7.2 GB in 5 steps
        # (docs/performance.md; 4 a pass: 12.1 GB)
        mem_mb=6000 if config["model"]["base"] == "build" else 10000,
    shell:
        "{PY} a3t.stages.train --config {params.settings:q} --base {params.base} --data {input.data} --out {output} "
        "{params.init} {params.actre} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
