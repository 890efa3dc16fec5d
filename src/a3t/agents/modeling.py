"""Load the base model in 4-bit NF4 (bitsandbytes), attach or load LoRA adapters (peft)."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model, prepare_model_for_kbit_training
from safetensors import SafetensorError
from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

from a3t.agents.prompts import CHAT_TEMPLATE
from a3t.io import A3TError

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def _looks_local(name: str) -> bool:
    return name.startswith((".", "/", "~")) or name.startswith("results") or Path(name).exists()


def device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _check_local(base: str) -> None:
    if _looks_local(base) and not Path(base).expanduser().exists():
        raise A3TError(f"model path {base!r} not found")


def load_tokenizer(base: str, gguf_file: str | None = None):
    _check_local(base)
    try:
        tok = AutoTokenizer.from_pretrained(base, gguf_file=gguf_file or None)
    except OSError as err:
        raise A3TError(f"cannot load the tokenizer of {base!r}: {err}") from err
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not tok.chat_template or not re.search(r"{%-?\s*generation\s*-?%}", tok.chat_template):
        tok.chat_template = CHAT_TEMPLATE if "<|assistant|>" in tok.get_vocab() else _with_generation(tok)
    return tok


def _with_generation(tok) -> str:
    """A template with generation markers for tokenizers whose own template has none: ChatML where the
    vocabulary has its tokens (SmolLM2, Qwen), else Mistral's ``[INST]`` form."""
    if "<|im_start|>" in tok.get_vocab():
        return (
            "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m['role'] == 'assistant' %}{% generation %}"
            "{{ m['content'] }}<|im_end|>{% endgeneration %}{% else %}{{ m['content'] }}<|im_end|>{% endif %}\n"
            "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        )
    return (
        "{{ bos_token }}{% for m in messages %}{% if m['role'] == 'assistant' %}{% generation %}{{ m['content'] }}"
        "{{ eos_token }}{% endgeneration %}{% else %}[INST] {{ m['content'] }} [/INST]{% endif %}{% endfor %}"
    )


def load_base(
    base: str, quantize: bool = True, compute_dtype: str = "float32", gguf_file: str | None = None, on: str | None = None
):
    """The base causal LM, 4-bit NF4 without double quantization when ``quantize`` (as QLoRA / the paper), on
    device ``on`` (default: CUDA where there is one, else the CPU)."""
    _check_local(base)
    if quantize and gguf_file:
        raise A3TError(
            f"{base}/{gguf_file}: a GGUF checkpoint cannot be loaded 4-bit; convert it first (python -m a3t.stages.convert_base)"
        )
    qconfig = None
    if quantize:
        qconfig = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=False,
            bnb_4bit_compute_dtype=DTYPES[compute_dtype],
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(
            base, quantization_config=qconfig, device_map=on or device(), dtype=DTYPES[compute_dtype], gguf_file=gguf_file or None
        )
    except OSError as err:
        raise A3TError(f"cannot load model {base!r}: {err}") from err
    except SafetensorError as err:
        raise _damaged(base, err) from err
    return model


def _damaged(folder: str, err: Exception) -> A3TError:
    """One line for a checkpoint whose weights file cannot be read (truncated or corrupted in transit)."""
    files = sorted(p.name for p in Path(folder).glob("*.safetensors")) or ["its weights"]
    return A3TError(
        f"{folder}/{', '.join(files)}: damaged, cannot be read ({err}); `a3t verify` names the files that differ "
        "from their manifest; delete that stage's output to make it again"
    )


def add_lora(
    model, r: int, alpha: int, dropout: float, targets: list[str], quantized: bool = True, init_adapter: str | None = None
):
    """A trainable LoRA on ``model``: fresh, or ``init_adapter``'s weights to train on (its r, alpha and targets must be
    the ones asked for: a warm start continues the same adapter)."""
    if quantized:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if init_adapter:
        check_adapter(init_adapter)
        saved = LoraConfig.from_pretrained(init_adapter)
        asked = {"r": r, "lora_alpha": alpha, "target_modules": sorted(targets)}
        found = {"r": saved.r, "lora_alpha": saved.lora_alpha, "target_modules": sorted(saved.target_modules)}
        if asked != found:
            raise A3TError(f"{init_adapter}/adapter_config.json: {found} differs from the LoRA asked for, {asked}")
        return PeftModel.from_pretrained(model, init_adapter, is_trainable=True)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=targets, task_type="CAUSAL_LM")
    return get_peft_model(model, config)


def check_adapter(adapter: str | None) -> None:
    """A given adapter must be a saved LoRA adapter folder."""
    if adapter and not (Path(adapter) / "adapter_config.json").is_file():
        raise A3TError(f"adapter {adapter!r} not found (no adapter_config.json)")


def load_agent(
    base: str,
    adapter: str | None,
    quantize: bool = True,
    compute_dtype: str = "float32",
    gguf_file: str | None = None,
    merge: bool = False,
    on: str | None = None,
):
    """Base (+ adapter, when given) ready for generation on device ``on`` (as :func:`load_base`), and its
    tokenizer (left padding).

    ``merge``: dequantize the NF4 base (the very weights the adapter was trained on) and merge the
    adapter into it: one plain model, about 3x faster to generate on CPU, where bitsandbytes has no
    4-bit kernels (outputs differ from the 4-bit path only by its bf16 rounding).
    """
    check_adapter(adapter)  # fail before the slow load
    model = load_base(base, quantize, compute_dtype, gguf_file, on)
    if merge and quantize:
        model = model.dequantize()
    if adapter:
        try:
            model = PeftModel.from_pretrained(model, adapter)
        except SafetensorError as err:
            raise _damaged(adapter, err) from err
        if merge:
            model = model.merge_and_unload()
    model.eval()
    tok = load_tokenizer(base, gguf_file)
    tok.padding_side = "left"
    return model, tok
