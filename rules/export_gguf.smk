rule export_gguf:
    """Round k's agent for llama.cpp (model.engine llamacpp): its adapter merged into the base in float32, written as one
    GGUF of model.gguf_type, kept only when llama.cpp and torch agree on fixed prompts (greedy tokens, logits)."""
    input:
        adapter="results/round{round}/adapter",
        base=base_model_input,
        signature=signature("export_gguf"),
    output:
        directory("results/round{round}/agent_gguf"),
    params:
        base=base_model(),
        settings=settings(["model.quantize", "model.gguf_type"]),
    log:
        "results/logs/round{round}/export_gguf.log",
    benchmark:
        "results/benchmarks/round{round}/export_gguf.tsv"
    threads: 2
    resources:
        mem_mb=4000,
    shell:
        "{PY} a3t.stages.export_gguf --config {params.settings:q} --base {params.base} --adapter {input.adapter} "
        "--out {output} --threads {threads} > {log} 2>&1 "
        "&& {PY} a3t.signatures {input.signature}"
