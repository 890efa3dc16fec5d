if config["model"]["base"] == "build":

    rule base_model:
        """The embedded default's base model: tokenizer + small Mistral, pre-trained on the pipeline's own text."""
        input:
            corpus="results/pretrain/trajectories.jsonl",
            signature=signature("base_model"),
        output:
            directory("results/base_model"),
        params:
            settings=settings(
                [f"pretrain.{key}" for key in config["pretrain"] if key not in ("players", "random_steps")] + ["seed"]
            ),
        log:
            "results/logs/base_model.log",
        benchmark:
            "results/benchmarks/base_model.tsv"
        threads: 2
        resources:
            mem_mb=4000,
        shell:
            "{PY} a3t.stages.base_model --config {params.settings:q} --corpus {input.corpus} --out {output} "
            "--threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
