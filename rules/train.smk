rule train_round0:
    """Round 0: QLoRA SFT of the base on the teacher's successful demonstrations."""
    input:
        data="results/round0/teacher/trajectories.jsonl",
        base=base_model_input,
    output:
        directory("results/round0/adapter"),
    params:
        model=model_args(),
        qlora=config["qlora"],
        modules=",".join(config["qlora"]["target_modules"]),
        t=config["train"],
        seed=config["seed"],
    log:
        "results/logs/round0/train.log",
    benchmark:
        "results/benchmarks/round0/train.tsv"
    threads: 2
    resources:
        mem_mb=6000,
    shell:
        "{PY} a3t.train {params.model} --data {input.data} --out {output} --epochs {params.t[epochs_round0]} "
        "--lr {params.t[lr]} --batch-size {params.t[batch_size]} --grad-accum {params.t[grad_accum]} "
        "--optim {params.t[optim]} --max-len {params.t[max_len]} --lora-r {params.qlora[r]} "
        "--lora-alpha {params.qlora[alpha]} --lora-dropout {params.qlora[dropout]} --target-modules {params.modules} "
        "--seed {params.seed} --threads {threads} > {log} 2>&1"
