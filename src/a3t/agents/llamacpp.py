"""llama.cpp as the agent's engine on CPUs: every live episode one sequence of a llama.cpp context.

:class:`LlamaBatch` keeps each sequence's KV cache from call to call and feeds it only the tokens that are
new, with no padding: each sequence's new prompt tokens in a batch of its own, then every reply's next token
in one batch of all sequences. A sequence whose prompt no longer extends what it holds (a trimmed history)
drops the tokens after their common prefix; one that leaves frees its cells. It returns next-token logits; the
choice of a token (the admissible-command mask, greedy or sampled) is the player's, the same for every engine
(:class:`a3t.agents.llm.LLMPlayer`).

llama.cpp comes from ``llama-cpp-python``, built by ``make`` from its sources for the machine's own CPU.
"""

from __future__ import annotations

import ctypes
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from a3t.agents.constrained import whole_commands
from a3t.agents.llm import LLMPlayer
from a3t.envs.grammar import THINK_PREFIX
from a3t.io import A3TError

INSTALL_HINT = "make .venv/.llamacpp builds it (llama-cpp-python, from source: cmake and a C++ compiler)"


def load_library():
    """The ``llama_cpp`` binding, or one clear error naming how to install it."""
    try:
        import llama_cpp
    except (ImportError, OSError) as err:  # OSError: the package is there, its shared library is not loadable
        raise A3TError(f"model.engine llamacpp needs llama.cpp: {err}; {INSTALL_HINT}") from err
    return llama_cpp


def available() -> bool:
    """Whether llama.cpp can be imported here (for ``model.engine: auto``)."""
    try:
        load_library()
    except A3TError:
        return False
    return True


_QUIET = None  # the log callback, kept alive as long as the library


def _silence(lib) -> None:
    global _QUIET
    if _QUIET is None:
        _QUIET = lib.llama_log_callback(lambda level, text, user: None)
        lib.llama_log_set(_QUIET, ctypes.c_void_p())


@dataclass
class _Sequence:
    id: int
    tokens: list[int] = field(default_factory=list)  # the tokens whose keys/values the cache holds, in order
    used: int = 0  # the call that last used it


class LlamaBatch:
    """A GGUF model in llama.cpp with ``sequences`` KV caches of ``context`` tokens each.

    :meth:`forward` takes, per key, the tokens that key's sequence should hold (its prompt so far) and returns
    the logits after the last of them, having fed only those its cache lacks.
    """

    def __init__(
        self, path: Path, sequences: int, context: int, threads: int, batch_tokens: int = 2048,
        flash_attention: int = 0, unified: bool = False,
    ):  # fmt: skip
        lib = self.lib = load_library()
        _silence(lib)
        if not Path(path).is_file():
            raise A3TError(f"{path}: GGUF file not found")
        lib.llama_backend_init()
        model_params = lib.llama_model_default_params()
        self.model = lib.llama_model_load_from_file(str(path).encode(), model_params)
        if not self.model:
            raise A3TError(f"{path}: llama.cpp cannot load this GGUF file")
        params = lib.llama_context_default_params()
        params.n_ctx = sequences * context
        params.n_batch = batch_tokens
        params.n_ubatch = min(512, batch_tokens)
        params.n_seq_max = sequences
        params.n_threads = params.n_threads_batch = threads
        # measured with SmolLM2, 16 sequences of 660 tokens, 2 threads (docs/performance.md): flash attention on
        # (llama.cpp's auto) prefills their 60 new tokens each 2.7x slower, one cache for all sequences 4.8x slower
        params.kv_unified = unified
        params.flash_attn_type = flash_attention
        params.no_perf = True
        self.ctx = lib.llama_init_from_model(self.model, params)
        if not self.ctx:
            raise A3TError(f"{path}: llama.cpp cannot make a context of {sequences} x {context} tokens")
        self.memory = lib.llama_get_memory(self.ctx)
        self.vocab_size = lib.llama_vocab_n_tokens(lib.llama_model_get_vocab(self.model))
        self.context, self.batch_tokens = context, batch_tokens
        self.path, self.threads, self.capacity = Path(path), threads, sequences
        self.batch = lib.llama_batch_init(batch_tokens, 0, 1)
        self._free = list(range(sequences))[::-1]
        self.sequences: dict = {}
        self.calls = 0
        self.fed = 0  # tokens fed in all (prefill and decoding)

    def close(self) -> None:
        if getattr(self, "ctx", None):
            self.lib.llama_batch_free(self.batch)
            self.lib.llama_free(self.ctx)
            self.lib.llama_model_free(self.model)
            self.ctx = None

    def __del__(self):
        self.close()

    def drop(self, key) -> None:
        """Free ``key``'s sequence and its cells."""
        seq = self.sequences.pop(key, None)
        if seq is not None:
            self.lib.llama_memory_seq_rm(self.memory, seq.id, -1, -1)
            self._free.append(seq.id)

    def _sequence(self, key, busy: set) -> _Sequence:
        seq = self.sequences.get(key)
        if seq is None:
            if not self._free:  # the least recently used sequence not in this call gives its cells up
                idle = [k for k in self.sequences if k not in busy]
                if not idle:
                    raise A3TError(f"llama.cpp: more than {len(self.sequences)} sequences in one call")
                self.drop(min(idle, key=lambda k: self.sequences[k].used))
            seq = self.sequences[key] = _Sequence(self._free.pop())
        seq.used = self.calls
        return seq

    def _new_tokens(self, seq: _Sequence, prompt: list[int]) -> list[int]:
        """What ``seq`` must be fed to hold ``prompt``: its tokens past their common prefix (at least the last one,
        whose logits are asked for); cells past the common prefix are dropped."""
        if len(prompt) > self.context:
            raise A3TError(f"llama.cpp: a prompt of {len(prompt)} tokens exceeds the {self.context}-token context")
        held = len(seq.tokens)
        if held < len(prompt) and prompt[:held] == seq.tokens:  # the usual case: the prompt grew
            return prompt[held:]
        same, limit = 0, min(held, len(prompt) - 1)
        while same < limit and seq.tokens[same] == prompt[same]:
            same += 1
        if same < len(seq.tokens):
            self.lib.llama_memory_seq_rm(self.memory, seq.id, same, -1)
            del seq.tokens[same:]
        return prompt[same:]

    def forward(self, keys: list, prompts: list[list[int]]) -> np.ndarray:
        """(len(keys), vocab) logits after each prompt, each key's sequence made to hold its prompt."""
        self.calls += 1
        busy = set(keys)
        feeds = []
        for key, prompt in zip(keys, prompts, strict=True):
            seq = self._sequence(key, busy)
            feeds.append((seq, self._new_tokens(seq, prompt)))
        return self._decode(feeds)

    def extend(self, keys: list, tokens: list[int]) -> np.ndarray:
        """(len(keys), vocab) logits after feeding each key's sequence one more token (a decoding step)."""
        self.calls += 1
        feeds = []
        for key, token in zip(keys, tokens, strict=True):
            seq = self.sequences[key]
            seq.used = self.calls
            feeds.append((seq, [token]))
        return self._decode(feeds)

    def _decode(self, feeds: list[tuple[_Sequence, list[int]]]) -> np.ndarray:
        """Feed each sequence its tokens; logits after each one's last. A sequence of several new tokens (a prefill) is
        its own llama.cpp batch, and the sequences of one new token (a decoding step) share one: llama.cpp splits a
        batch of sequences into equal-length parts, so prompts of unequal lengths batched together cost 1.5x
        (docs/performance.md)."""
        out = np.empty((len(feeds), self.vocab_size), dtype=np.float32)
        steps = [j for j, (_, tokens) in enumerate(feeds) if len(tokens) == 1]
        for j, feed in enumerate(feeds):
            if len(feed[1]) > 1:
                self._feed([(j, *feed)], out)
        if steps:
            self._feed([(j, *feeds[j]) for j in steps], out)
        return out

    def _feed(self, feeds: list[tuple[int, _Sequence, list[int]]], out: np.ndarray) -> None:
        """Feed these (row, sequence, tokens) in llama.cpp batches of at most ``batch_tokens``; logits into ``out``."""
        batch, n, rows = self.batch, 0, []  # rows: output index -> feed index, for the current llama batch

        def flush():
            nonlocal n, rows
            if not n:
                return
            batch.n_tokens = n
            code = self.lib.llama_decode(self.ctx, batch)
            if code != 0:
                raise A3TError(f"llama.cpp: llama_decode returned {code} (1: no room left in the KV cache)")
            if rows:
                logits = np.ctypeslib.as_array(self.lib.llama_get_logits(self.ctx), shape=(len(rows), self.vocab_size))
                out[rows] = logits
            self.fed += n
            n, rows = 0, []

        for j, seq, tokens in feeds:
            for i, token in enumerate(tokens):
                if n == self.batch_tokens:
                    flush()
                batch.token[n] = token
                batch.pos[n] = len(seq.tokens)
                batch.n_seq_id[n] = 1
                batch.seq_id[n][0] = seq.id
                last = i == len(tokens) - 1
                batch.logits[n] = last
                if last:
                    rows.append(j)
                seq.tokens.append(token)
                n += 1
        flush()


class LlamaCppPlayer(LLMPlayer):
    """``model.engine: llamacpp``: :class:`~a3t.agents.llm.LLMPlayer` (prompts, the admissible-command tries,
    ``think_limit``, ``decode_chunk``, seeding) decoding with :class:`LlamaBatch` in place of ``generate``.

    A step feeds each live episode's new tokens, then decodes every unfinished reply one token at a time, all
    sequences in one llama.cpp batch. Each token is chosen as on the torch path: masked to what the row's
    trie allows, then the most likely one, or one drawn from softmax(logits / temperature).
    """

    def __init__(
        self,
        gguf: Path,
        tok,
        max_len: int = 1536,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        seed: int = 0,
        actions: str = "free",
        think_limit: int = 0,
        decode_chunk: int = 0,
        threads: int = 2,
        sequences: int = 32,
    ):
        if actions == "scored":
            raise A3TError("--actions scored needs the torch engine (model.engine: torch)")
        super().__init__(
            None, tok, max_len, max_new_tokens, temperature, seed, reuse_cache=False, actions=actions,
            think_limit=think_limit, decode_chunk=0,
        )  # fmt: skip
        self.decode_chunk = decode_chunk  # kept by the sequences' own caches (the torch path needs its prefix cache)
        # a prompt is trimmed to max_len by its oldest steps, but never below its opening and latest step (a long
        # observation can pass max_len, as on the torch path): each sequence has room for twice that
        self.engine = LlamaBatch(gguf, sequences, 2 * max_len + max_new_tokens, threads)
        self.cut = 0  # prompts longer even than that, cut to their latest tokens (one warning line)
        self._rng = np.random.default_rng(seed)
        self._anonymous = 0

    @property
    def engine_line(self) -> str:
        lib = self.engine.lib
        return (
            f"engine: llamacpp (llama-cpp-python {lib.__version__}, {self.engine.path}, {self.engine.threads} threads, "
            f"{self.engine.capacity} sequences of {self.engine.context} tokens)"
        )

    def start(self, slot, game, traj, rng) -> None:
        super().start(slot, game, traj, rng)
        for key in [k for k in self.engine.sequences if isinstance(k, tuple) and k and k[0] == slot]:
            self.engine.drop(key)  # the slot's last episode left: its sequences free their cells

    def seed_for(self, traj) -> None:
        if self.temperature > 0:
            self._rng = np.random.default_rng(self.sampling_seed(traj))

    def generate(self, prompts, keys=None, allowed=None, may_think=None, partial=False):
        tokens = self.tok(prompts, add_special_tokens=False)["input_ids"]
        allowed = allowed or [None] * len(prompts)
        constrain = allowed if self.actions == "admissible" else [None] * len(prompts)
        return whole_commands(self._decode(tokens, keys, constrain, may_think, partial), constrain)

    def _choose_token(self, logits: np.ndarray, allowed: set[int] | None) -> int:
        if allowed:
            idx = np.fromiter(allowed, dtype=np.int64, count=len(allowed))
            idx.sort()
            logits = logits[idx]
        if self.temperature > 0:
            z = logits.astype(np.float64) / self.temperature
            p = np.exp(z - z.max())
            choice = int(self._rng.choice(len(p), p=p / p.sum()))
        else:
            choice = int(np.argmax(logits))
        return int(idx[choice]) if allowed else choice

    def _decode(self, tokens, keys, constrain, may_think=None, partial=False):
        partial = partial and keys is not None and self.decode_chunk > 0
        tokens, prior = self._resume(tokens, keys, partial)
        room = self.engine.context - self.max_new_tokens
        if any(len(t) > room for t in tokens):
            if not self.cut:
                print(f"warning: a prompt of {max(map(len, tokens))} tokens cut to its latest {room} (llama.cpp's room "
                      "for a sequence: 2 x max_len + max_new_tokens)", file=sys.stderr, flush=True)  # fmt: skip
            self.cut += sum(len(t) > room for t in tokens)
            tokens = [t[-room:] for t in tokens]
        temporary = keys is None
        if temporary:
            keys = [("anonymous", self._anonymous + j) for j in range(len(tokens))]
            self._anonymous += len(tokens)
        limit = min(self.decode_chunk, self.max_new_tokens) if partial else self.max_new_tokens
        may_think = may_think or [True] * len(tokens)
        tries = [None if a is None else self.trie(a, think) for a, think in zip(constrain, may_think, strict=True)]
        think, eos = self._tokens(THINK_PREFIX), self.tok.eos_token_id
        logits = self.engine.forward(keys, tokens)
        new: list[list[int]] = [[] for _ in tokens]
        live = list(range(len(tokens)))
        while live:
            for r, row_logits in zip(live, logits, strict=True):
                reply = prior[r] + tuple(new[r])
                free = tries[r] is None or reply[: len(think)] == think
                new[r].append(self._choose_token(row_logits, None if free else tries[r].get(reply)))
            live = [r for r in live if new[r][-1] != eos and len(new[r]) < min(limit, self.max_new_tokens - len(prior[r]))]
            if live:
                logits = self.engine.extend([keys[r] for r in live], [new[r][-1] for r in live])
        self.generated_tokens += sum(len(n) for n in new)
        if temporary:
            for key in keys:
                self.engine.drop(key)
        return self._replies(keys, prior, new, partial)

    def score(self, prompt, candidates, key=None):
        raise A3TError("--actions scored needs the torch engine (model.engine: torch)")
