"""Optional vLLM engine for the agent's generation (`pip install -e ".[vllm]"`, GPUs): the same player as
:class:`a3t.agents.llm.LLMPlayer` (prompts, parsing, seeding), with vLLM's continuous batching and paged KV
cache in place of ``generate`` + :class:`~a3t.agents.kv_cache.PrefixCache`, the base loaded 4-bit through
bitsandbytes (the NF4 weights the adapter was trained on) and the round's LoRA adapter served per
request (``LoRARequest``)."""

from __future__ import annotations

import json
from pathlib import Path

from a3t.agents.llm import LLMPlayer
from a3t.io import A3TError


class VLLMPlayer(LLMPlayer):
    """``model.engine: vllm``: replies from ``vllm.LLM.generate`` on exactly the tokens the HF path would see."""

    def __init__(
        self,
        base: str,
        adapter: str | None,
        tok,
        max_len: int = 1536,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        seed: int = 0,
        quantize: bool = True,
        compute_dtype: str = "bfloat16",
    ):
        try:
            from vllm import LLM, SamplingParams
            from vllm.lora.request import LoRARequest
        except ImportError as err:
            raise A3TError("model.engine 'vllm' needs vLLM: pip install -e '.[vllm]' (GPUs)") from err
        super().__init__(None, tok, max_len, max_new_tokens, temperature, seed, reuse_cache=False)
        rank = json.loads((Path(adapter) / "adapter_config.json").read_text())["r"] if adapter else 16
        self.llm = LLM(
            model=base,
            tokenizer=base,
            enable_lora=bool(adapter),
            max_lora_rank=rank,
            max_model_len=max_len,
            quantization="bitsandbytes" if quantize else None,
            dtype=compute_dtype,
            seed=seed,
        )
        self.lora = LoRARequest("a3t-adapter", 1, adapter) if adapter else None
        stop = [tok.eos_token_id] if tok.eos_token_id is not None else []
        self.params = SamplingParams(temperature=temperature, max_tokens=max_new_tokens, stop_token_ids=stop, seed=seed)

    @property
    def engine_line(self) -> str:
        return "engine: vllm"

    def generate(
        self,
        prompts: list[str],
        keys: list | None = None,
        allowed: list | None = None,
        may_think: list | None = None,
        partial: bool = False,
    ) -> list[str]:
        """Replies to ``prompts``, each whole (``keys`` unused: vLLM's prefix caching finds shared prefixes itself;
        ``allowed`` and ``may_think`` unused: this player's actions are free text, ``agent_from_args`` refuses the
        others; ``partial`` unused: vLLM batches continuously itself)."""
        ids = self.tok(prompts, add_special_tokens=False)["input_ids"]  # the template already has its special tokens
        outs = self.llm.generate([{"prompt_token_ids": x} for x in ids], self.params, lora_request=self.lora, use_tqdm=False)
        self.generated_tokens += sum(len(o.outputs[0].token_ids) for o in outs)
        return [o.outputs[0].text for o in outs]
