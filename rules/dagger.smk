rule dagger_play:
    """DAgger iteration i: the base of iteration i-1 plays pretrain games, the teacher executing a share beta of
    the steps; the states where the base erred, labelled with the teacher's step."""
    input:
        base=lambda w: dagger_model(int(w.iteration) - 1),
        games=games_manifest("pretrain"),
        signature=signature("dagger_play"),
    output:
        "results/dagger/iter{iteration}/labels.jsonl",
    params:
        base=lambda w: dagger_model(int(w.iteration) - 1),
        # not dagger.iterations: iteration i is the same job whatever the count
        settings=settings(["dagger.games", "dagger.examples_per_episode"], base=agent_settings("torch")),
        beta=lambda w: config["dagger"]["beta"][min(int(w.iteration), len(config["dagger"]["beta"])) - 1],
    log:
        "results/logs/dagger/iter{iteration}/play.log",
    benchmark:
        "results/benchmarks/dagger/iter{iteration}/play.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.dagger play --config {params.settings:q} --base {params.base} --games {input.games} --out {output} "
        "--iteration {wildcards.iteration} --beta {params.beta} --threads {threads} > {log} 2>&1 "
        "&& {PY} a3t.signatures {input.signature}"


rule dagger_train:
    """DAgger iteration i: the base of iteration i-1 trained on the aggregate, its pretraining text and the
    labelled states of iterations 1..i."""
    input:
        base=lambda w: dagger_model(int(w.iteration) - 1),
        corpus="results/pretrain/trajectories.jsonl",
        labels=lambda w: [f"results/dagger/iter{i}/labels.jsonl" for i in range(1, int(w.iteration) + 1)],
        signature=signature("dagger_train"),
    output:
        directory("results/dagger/iter{iteration}/model"),
    params:
        settings=settings(["dagger.epochs", "dagger.lr", "pretrain.block", "train.max_len", "pretrain.batch_size", "seed"]),
    log:
        "results/logs/dagger/iter{iteration}/train.log",
    benchmark:
        "results/benchmarks/dagger/iter{iteration}/train.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.dagger train --config {params.settings:q} --base {input.base} --corpus {input.corpus} "
        "--labels {input.labels} --out {output} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
