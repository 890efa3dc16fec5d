rule pretrain_corpus:
    """Text for the embedded base model: scripted players on the pretrain split."""
    input:
        games_manifest("pretrain"),
    output:
        "results/pretrain/trajectories.jsonl",
    params:
        players=",".join(config["pretrain"]["players"]),
        random_steps=config["pretrain"]["random_steps"],
        step_limit=config["env"]["step_limit"],
        seed=config["seed"],
    log:
        "results/logs/pretrain_corpus.log",
    benchmark:
        "results/benchmarks/pretrain_corpus.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.demos --games {input} --out {output} --players {params.players} --keep all "
        "--random-steps {params.random_steps} --astray 0 --step-limit {params.step_limit} --seed {params.seed} "
        "--split pretrain --workers {threads} > {log} 2>&1"


rule teacher_demos:
    """Round 0's demonstrations: the ReAct teacher on the training tasks, failures dropped."""
    input:
        games_manifest("train"),
    output:
        "results/round0/teacher/trajectories.jsonl",
    params:
        astray=config["teacher"]["astray"],
        step_limit=config["env"]["step_limit"],
        seed=config["seed"],
    log:
        "results/logs/round0/teacher.log",
    benchmark:
        "results/benchmarks/round0/teacher.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.demos --games {input} --out {output} --players teacher --keep won --astray {params.astray} "
        "--step-limit {params.step_limit} --seed {params.seed} --workers {threads} > {log} 2>&1"
