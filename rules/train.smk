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
        model=model_args(),
        qlora=config["qlora"],
        modules=",".join(config["qlora"]["target_modules"]),
        t=train_params,
        epochs=lambda w: config["train"]["epochs_round0"] if int(w.round) == 0 else config["train"]["epochs"],
        flags=train_flags(),
        contrast=train_contrast,
        seed=config["seed"],
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
        "{PY} a3t.stages.train {params.model} --data {input.data} --out {output} --epochs {params.epochs} "
        "--lr {params.t[lr]} --batch-size {params.t[batch_size]} --grad-accum {params.t[grad_accum]} "
        "--optim {params.t[optim]} --max-len {params.t[max_len]} --lora-r {params.qlora[r]} "
        "--lora-alpha {params.qlora[alpha]} --lora-dropout {params.qlora[dropout]} --target-modules {params.modules} "
        "{params.contrast} {params.flags} "
        "--seed {params.seed} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
