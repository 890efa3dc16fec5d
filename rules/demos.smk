rule pretrain_corpus:
    """Text for the embedded base model: scripted players on the pretrain split."""
    input:
        games=games_manifest("pretrain"),
        signature=signature("pretrain_corpus"),
    output:
        "results/pretrain/trajectories.jsonl",
    params:
        players=",".join(config["pretrain"]["players"]),
        settings=settings(["pretrain.random_steps", "env.step_limit", "seed"], {"teacher.astray": 0.0}),
    log:
        "results/logs/pretrain_corpus.log",
    benchmark:
        "results/benchmarks/pretrain_corpus.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.stages.demos --config {params.settings:q} --games {input.games} --out {output} --players {params.players} "
        "--keep all --split pretrain --workers {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"


rule teacher_demos:
    """Round 0's demonstrations: the ReAct teacher (scripted, or an LLM behind an endpoint) on the training tasks,
    failures dropped."""
    input:
        games=games_manifest("train"),
        signature=signature("teacher_demos"),
    output:
        "results/round0/teacher/trajectories.jsonl",
    params:
        player="prompted" if config["teacher"]["source"] == "endpoint" else "teacher",
        settings=settings(
            ["teacher.astray", "env.step_limit", "seed"] + endpoint_keys(config["teacher"]["source"] == "endpoint")
        ),
    log:
        "results/logs/round0/teacher.log",
    benchmark:
        "results/benchmarks/round0/teacher.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.stages.demos --config {params.settings:q} --games {input.games} --out {output} --players {params.player} "
        "--keep won --workers {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"


rule teacher_demos_extra:
    """More round-0 demonstrations (teacher.extra_splits): the scripted teacher on another split's games, for round
    0's SFT only; their tasks are not rolled out in later rounds."""
    input:
        games=lambda w: games_manifest(w.split),
        signature=signature("teacher_demos_extra"),
    output:
        "results/round0/teacher_{split}/trajectories.jsonl",
    wildcard_constraints:
        split="|".join(config["teacher"]["extra_splits"]) or "^$",
    params:
        settings=settings(["teacher.astray", "env.step_limit", "seed"]),
    log:
        "results/logs/round0/teacher_{split}.log",
    benchmark:
        "results/benchmarks/round0/teacher_{split}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.stages.demos --config {params.settings:q} --games {input.games} --out {output} --players teacher "
        "--keep won --split {wildcards.split} --workers {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
