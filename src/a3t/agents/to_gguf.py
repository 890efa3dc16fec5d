"""Write a transformers Llama/Mistral causal LM (an adapter merged in) as one GGUF file for llama.cpp.

The same tensors and keys as llama.cpp's ``convert_hf_to_gguf.py`` writes for these architectures (rotary
halves of q/k permuted to GGML's order, tied output embedding left out, 1-D norms in F32), the vocabulary
as a byte-level BPE (``gpt2``) one. The player feeds llama.cpp token ids from the transformers tokenizer,
so llama.cpp's own tokenizer is never used: the vocabulary is there for the file to load.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import gguf
import numpy as np
import torch

from a3t.io import A3TError

WEIGHT_TYPES = {
    "F32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "F16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "BF16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
}
ARCHITECTURES = ("LlamaForCausalLM", "MistralForCausalLM")


def _permute(weights: np.ndarray, heads: int) -> np.ndarray:
    """Rotary q/k rows from transformers' half-split order to GGML's interleaved one (as convert_hf_to_gguf)."""
    return weights.reshape(heads, 2, weights.shape[0] // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _vocabulary(tok, vocab_size: int) -> tuple[list[str], list[int]]:
    reverse = {i: t for t, i in tok.get_vocab().items()}
    added = tok.get_added_vocab()
    decoder = tok.added_tokens_decoder
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif reverse[i] in added:
            tokens.append(reverse[i])
            types.append(gguf.TokenType.CONTROL if decoder[i].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(reverse[i])
            types.append(gguf.TokenType.NORMAL)
    return tokens, types


def write_gguf(model, tok, path: Path, weight_type: str = "F32", pre_tokenizer: str = "default") -> dict:
    """Write ``model`` (a plain, merged transformers LM) and ``tok``'s vocabulary to ``path``; return its shape.

    ``pre_tokenizer``: the ``tokenizer.ggml.pre`` name (``smollm`` for SmolLM2; only its loading matters here).
    """
    if weight_type not in WEIGHT_TYPES:
        raise A3TError(f"GGUF weight type must be one of {sorted(WEIGHT_TYPES)}, got {weight_type!r}")
    config = model.config
    arch = (config.architectures or [type(model).__name__])[0]
    if arch not in ARCHITECTURES and type(model).__name__ not in ARCHITECTURES:
        raise A3TError(f"llama.cpp export supports {ARCHITECTURES}; this model is {arch}")
    qtype, file_type = WEIGHT_TYPES[weight_type]
    heads, kv_heads, layers = config.num_attention_heads, config.num_key_value_heads, config.num_hidden_layers
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
    rope = getattr(config, "rope_parameters", None) or {}
    theta = rope.get("rope_theta", getattr(config, "rope_theta", 10000.0))
    if rope.get("rope_type", "default") != "default":
        raise A3TError(f"llama.cpp export: rope_type {rope['rope_type']!r} is not supported (only 'default')")

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name(str(getattr(config, "_name_or_path", "") or "a3t agent"))
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_block_count(layers)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_head_count(heads)
    writer.add_head_count_kv(kv_heads)
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_rope_freq_base(theta)
    writer.add_rope_dimension_count(head_dim)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(file_type)
    tokens, types = _vocabulary(tok, config.vocab_size)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre_tokenizer)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    with tempfile.TemporaryDirectory() as folder:
        tok.save_pretrained(folder)
        gguf.SpecialVocab(folder, load_merges=True, n_vocab=config.vocab_size).add_to_gguf(writer)
    writer.add_add_bos_token(False)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, layers)
    tied = getattr(config, "tie_word_embeddings", False)
    count = 0
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight" and tied:
            continue
        if name.endswith("rotary_emb.inv_freq"):
            continue
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise A3TError(f"llama.cpp export: no GGUF name for tensor {name!r}")
        data = tensor.detach().to(torch.float32).cpu().numpy()
        if name.endswith("q_proj.weight"):
            data = _permute(data, heads)
        elif name.endswith("k_proj.weight"):
            data = _permute(data, kv_heads)
        if data.ndim == 1 or qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(target, np.ascontiguousarray(data, dtype=np.float32))
        elif qtype == gguf.GGMLQuantizationType.F16:
            writer.add_tensor(target, data.astype(np.float16))
        else:  # BF16
            packed = gguf.quants.quantize(data, qtype)
            writer.add_tensor(target, packed, raw_shape=packed.shape, raw_dtype=qtype)
        count += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"tensors": count, "weight_type": weight_type, "layers": layers, "vocab_size": config.vocab_size}
