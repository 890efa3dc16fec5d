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
        model=lambda w: agent_args(dagger_model(int(w.iteration) - 1)),
        d={k: config["dagger"][k] for k in ("games", "examples_per_episode")},  # not the count: iteration i is reused
        beta=lambda w: config["dagger"]["beta"][min(int(w.iteration), len(config["dagger"]["beta"])) - 1],
        e=generation_params(),
        step_limit=config["env"]["step_limit"],
        max_len=config["train"]["max_len"],
        seed=config["seed"],
    log:
        "results/logs/dagger/iter{iteration}/play.log",
    benchmark:
        "results/benchmarks/dagger/iter{iteration}/play.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.dagger play {params.model} --games {input.games} --out {output} --iteration {wildcards.iteration} "
        "--beta {params.beta} --games-count {params.d[games]} --examples-per-episode {params.d[examples_per_episode]} "
        "--step-limit {params.step_limit} --max-len {params.max_len} --batch-size {params.e[batch_size]} "
        "--max-new-tokens {params.e[max_new_tokens]} --seed {params.seed} --threads {threads} > {log} 2>&1 "
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
        d={k: config["dagger"][k] for k in ("epochs", "lr")},
        block=config["pretrain"]["block"],
        max_len=config["train"]["max_len"],
        batch_size=config["pretrain"]["batch_size"],
        seed=config["seed"],
    log:
        "results/logs/dagger/iter{iteration}/train.log",
    benchmark:
        "results/benchmarks/dagger/iter{iteration}/train.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.dagger train --base {input.base} --corpus {input.corpus} --labels {input.labels} --out {output} "
        "--block {params.block} --max-len {params.max_len} --epochs {params.d[epochs]} --lr {params.d[lr]} "
        "--batch-size {params.batch_size} --seed {params.seed} --threads {threads} > {log} 2>&1 "
        "&& {PY} a3t.signatures {input.signature}"
