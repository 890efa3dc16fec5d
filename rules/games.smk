rule games:
    """One split of ALFWorld games: generated offline, or indexed from real data (games.source)."""
    input:
        signature=signature("games"),
    output:
        "results/games/{split}/manifest.csv",
    wildcard_constraints:
        split="|".join(config["games"]["sizes"]),
    params:
        # real games (games.source alfworld) read games.data_dir; generated ones are drawn with the other keys
        settings=settings(
            ["games.seed", "games.task_types"]
            + (
                ["games.data_dir"]
                if config["games"]["source"] == "alfworld"
                else [f"games.{key}" for key in ("unseen_floorplans", "distractors", "max_instances", "max_draws")]
            )
        ),
        size=lambda w: per_type(w.split),
    log:
        "results/logs/games/{split}.log",
    benchmark:
        "results/benchmarks/games/{split}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.stages.games --config {params.settings:q} --split {wildcards.split} --out results/games/{wildcards.split} "
        "--per-type {params.size:q} --workers {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"


rule games_alfworld:
    """A split of real ALFWorld games (json_2.1.1), every game of games.task_types, evaluated beside the others
    (eval.alfworld_splits)."""
    input:
        signature=signature("games_alfworld"),
    output:
        "results/games/alfworld_{split}/manifest.csv",
    params:
        settings=settings(["games.task_types"], {"games.data_dir": config["eval"]["alfworld_data_dir"]}),
    log:
        "results/logs/games/alfworld_{split}.log",
    benchmark:
        "results/benchmarks/games/alfworld_{split}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.stages.games --split {wildcards.split} --out results/games/alfworld_{wildcards.split} "
        "--config {params.settings:q} --per-type all > {log} 2>&1 "
        "&& {PY} a3t.signatures {input.signature}"
