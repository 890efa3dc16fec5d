rule games:
    """One split of ALFWorld games: generated offline, or indexed from real data (games.source)."""
    input:
        signature=signature("games"),
    output:
        "results/games/{split}/manifest.csv",
    wildcard_constraints:
        split="|".join(config["games"]["sizes"]),
    params:
        games=lambda w: {k: v for k, v in config["games"].items() if k != "sizes"},
        size=lambda w: config["games"]["sizes"][w.split],
        source=lambda w: (
            f"--data-dir '{config['games']['data_dir']}' --per-type '{per_type(w.split)}' --seed {config['games']['seed']}"
            if config["games"]["source"] == "alfworld"
            else f"--per-type '{per_type(w.split)}' --seed {config['games']['seed']} "
            f"--unseen-floorplans {','.join(map(str, config['games']['unseen_floorplans']))} "
            f"--distractors {config['games']['distractors']} --max-instances {config['games']['max_instances']} "
            f"--max-draws {config['games']['max_draws']}"
        ),
        types=lambda w: ",".join(config["games"]["task_types"]),
    log:
        "results/logs/games/{split}.log",
    benchmark:
        "results/benchmarks/games/{split}.tsv"
    threads: 2
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.stages.games --split {wildcards.split} --out results/games/{wildcards.split} "
        "--task-types {params.types} {params.source} --workers {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"


rule games_alfworld:
    """A split of real ALFWorld games (json_2.1.1), every game of games.task_types, evaluated beside the others
    (eval.alfworld_splits)."""
    input:
        signature=signature("games_alfworld"),
    output:
        "results/games/alfworld_{split}/manifest.csv",
    params:
        data_dir=config["eval"]["alfworld_data_dir"],
        types=",".join(config["games"]["task_types"]),
    log:
        "results/logs/games/alfworld_{split}.log",
    benchmark:
        "results/benchmarks/games/alfworld_{split}.tsv"
    threads: 1
    resources:
        mem_mb=2000,
    shell:
        "{PY} a3t.stages.games --split {wildcards.split} --out results/games/alfworld_{wildcards.split} "
        "--task-types {params.types} --data-dir '{params.data_dir}' --per-type all > {log} 2>&1 "
        "&& {PY} a3t.signatures {input.signature}"
