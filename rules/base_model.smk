if config["model"]["base"] == "build":

    rule base_model:
        """The embedded default's base model: tokenizer + small Mistral, pre-trained on the pipeline's own text."""
        input:
            corpus="results/pretrain/trajectories.jsonl",
            signature=signature("base_model"),
        output:
            directory("results/base_model"),
        params:
            p=config["pretrain"],
            seed=config["seed"],
        log:
            "results/logs/base_model.log",
        benchmark:
            "results/benchmarks/base_model.tsv"
        threads: 2
        resources:
            mem_mb=4000,
        shell:
            "{PY} a3t.stages.base_model --corpus {input.corpus} --out {output} --vocab-size {params.p[vocab_size]} "
            "--hidden {params.p[hidden]} --layers {params.p[layers]} --heads {params.p[heads]} "
            "--kv-heads {params.p[kv_heads]} --intermediate {params.p[intermediate]} --max-len {params.p[max_len]} "
            "--block {params.p[block]} --epochs {params.p[epochs]} --lr {params.p[lr]} "
            "--batch-size {params.p[batch_size]} --seed {params.seed} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
