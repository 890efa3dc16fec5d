"""The language agent as a batched player: one ``generate`` call per step for every live episode."""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

import torch
from transformers import DynamicCache, LogitsProcessor, LogitsProcessorList
from transformers.cache_utils import Cache, DynamicLayer
from transformers.modeling_outputs import CausalLMOutputWithPast

from a3t.agents.prompts import message_length, messages, parse_action
from a3t.envs.grammar import THINK_PREFIX, grammar_variants, is_thought
from a3t.trajectory import Trajectory

# transformers renamed a model's cache argument and output field from ``past_key_values`` to ``cache`` within 5.x
# (5.25 has ``cache``; 5.17, on the GPU machine, ``past_key_values`` alone): the one this install has.
_CACHE = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


@dataclass
class _Row:
    """One episode's cached prompt: the keys/values of its tokens (no padding), and the one token not cached yet."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, (1, heads, length, dim)
    last: int
    last_mask: int
    tokens: list[int]  # the real tokens: prompt + reply
    age: int = 0  # calls since it was last used


class _SpareLayer(DynamicLayer):
    """A ``DynamicLayer`` that appends into spare room instead of concatenating at every token.

    ``DynamicLayer.update`` copies the whole cache once per decoded token (``torch.cat``); here the
    keys/values live in a buffer with room to spare and ``keys``/``values`` are views of its first
    ``n`` positions, so a token costs one small write. A full buffer is reallocated at twice the size.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, n: int):
        super().__init__()
        self.device, self.is_initialized = keys.device, True
        self._k, self._v, self._n = keys, values, n
        self.keys, self.values = keys[..., :n, :], values[..., :n, :]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
        n = self._n + key_states.shape[-2]
        if n > self._k.shape[-2]:
            shape = (*self._k.shape[:2], max(n, 2 * self._k.shape[-2]), self._k.shape[-1])
            k, v = self._k.new_empty(shape), self._v.new_empty(shape)
            k[..., : self._n, :], v[..., : self._n, :] = self.keys, self.values
            self._k, self._v = k, v
        self._k[..., self._n : n, :], self._v[..., self._n : n, :] = key_states, value_states
        self._n = n
        self.keys, self.values = self._k[..., :n, :], self._v[..., :n, :]
        return self.keys, self.values


class _SpareCache(DynamicCache):
    """A ``DynamicCache`` of :class:`_SpareLayer` holding each row's keys/values right-aligned at ``width``.

    ``rows[r][layer]`` is row r's (keys, values), each (1, heads, length, dim); positions left of a
    row's length are zeros (padding, hidden by the attention mask); ``room`` more positions are free.
    """

    def __init__(self, rows: list[list[tuple[torch.Tensor, torch.Tensor]]], width: int, room: int):
        layers = []
        for n in range(len(rows[0])):
            first = rows[0][n][0]
            shape = (len(rows), first.shape[1], width + room, first.shape[-1])
            keys, values = first.new_zeros(shape), first.new_zeros(shape)
            for r, row in enumerate(rows):
                k, v = row[n]
                keys[r, :, width - k.shape[2] : width], values[r, :, width - v.shape[2] : width] = k[0], v[0]
            layers.append(_SpareLayer(keys, values, width))
        Cache.__init__(self, layers=layers)


class PrefixCache:
    """KV caches of growing prompts, kept from step to step: a step prefills only what is new.

    Each row (an episode, or an ActRe query, named by its key) holds its prompt and reply so far.
    Next step, a row whose new prompt extends what it holds appends just the new tokens; any other
    prompt (a new episode, a trimmed history, a reply cut to its first line) is prefilled. Rows are
    left-padded to a common width; the attention mask hides the padding (also the padding a row
    gets after its reply ended, inside the batch) and positions come from the mask, so each row sees
    exactly the tokens it would see alone. After each call a row keeps only its tokens' keys/values
    (padding dropped), so the batch is as wide as its longest row, not as its padding history. A row
    not asked for is kept for ``keep`` calls (exploration skips the policy on ActRe steps): :meth:`age`
    counts the calls, once each.
    """

    def __init__(self, model, pad_id: int, eos_id: int, keep: int = 3, spare: int = 48):
        self.model, self.pad_id, self.eos_id, self.keep = model, pad_id, eos_id, keep
        self.spare = spare  # decoded tokens the batch's cache has room for before it is reallocated
        self.rows: dict = {}
        self.keys: list = []  # the keys and prompts of the last call, for update()
        self._prompts: list[list[int]] = []
        self.prefilled = self.appended = 0  # prompts prefilled from scratch / prompts that only appended

    def age(self) -> None:
        """A new call: rows not used in the last ``keep`` calls are dropped."""
        for row in self.rows.values():
            row.age += 1
        self.rows = {k: r for k, r in self.rows.items() if r.age <= self.keep}

    def store(self, key, tokens: list[int], kv: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        """Keep ``tokens`` as row ``key``: ``kv`` holds the keys/values of all but the last token."""
        self.rows[key] = _Row(kv, tokens[-1], 1, list(tokens))

    def extends(self, row: _Row | None, prompt: list[int]) -> bool:
        """Whether ``prompt`` continues what ``row`` holds: longer, or the same tokens ending in a real (uncached) one,
        as a reply unfinished at the last call is continued."""
        n = len(row.tokens) if row else 0
        return bool(row) and (len(prompt) > n or (len(prompt) == n and row.last_mask == 1)) and prompt[:n] == row.tokens

    def inputs(self, keys: list, prompts: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor, DynamicCache]:
        """input_ids, attention_mask and cache for ``generate`` on these prompts (one per key)."""
        rows = [self.rows.get(k) for k in keys]
        fresh = [j for j, (row, p) in enumerate(zip(rows, prompts, strict=True)) if not self.extends(row, p)]
        fresh_set = set(fresh)
        self.prefilled += len(fresh)
        self.appended += len(keys) - len(fresh)
        cached, uncached = [None] * len(keys), [None] * len(keys)  # kv and (ids, mask) per prompt
        for j, row in enumerate(rows):
            if j not in fresh_set:
                new = prompts[j][len(row.tokens) :]
                cached[j] = row.kv
                uncached[j] = ([row.last] + new, [row.last_mask] + [1] * len(new))
        if fresh:
            ids, mask = _left_pad([prompts[j][:-1] for j in fresh], self.pad_id)
            ids, mask = ids.to(self.model.device), mask.to(self.model.device)
            out = self.model(
                input_ids=ids, attention_mask=mask, position_ids=_positions(mask), use_cache=True, **{_CACHE: DynamicCache()}
            )
            for r, j in enumerate(fresh):
                start = int(mask.shape[1] - mask[r].sum())
                kv = [(la.keys[r : r + 1, :, start:], la.values[r : r + 1, :, start:]) for la in getattr(out, _CACHE).layers]
                cached[j] = kv
                uncached[j] = ([prompts[j][-1]], [1])
        lengths = torch.tensor([kv[0][0].shape[2] for kv in cached])
        width = int(lengths.max())
        u_ids, u_mask = _left_pad([ids for ids, _ in uncached], self.pad_id, [m for _, m in uncached])
        ids = torch.cat([torch.full((len(keys), width), self.pad_id, dtype=torch.long), u_ids], 1)
        mask = torch.cat([(torch.arange(width) >= width - lengths[:, None]).long(), u_mask], 1)
        self.keys, self._prompts = list(keys), prompts
        dev = self.model.device
        cache = _SpareCache(cached, width, ids.shape[1] - width + self.spare)
        return ids.to(dev), mask.to(dev), cache

    def update(self, ids: torch.Tensor, mask: torch.Tensor, sequences: torch.Tensor, cache: DynamicCache) -> list[list[int]]:
        """Record a ``generate`` result; return each prompt's reply tokens (up to and including its end token)."""
        new = sequences[:, ids.shape[1] :]
        is_end = new == self.eos_id
        new_mask = ((is_end.cumsum(1) - is_end.long()) == 0).long()  # 0 after the first end token: padding
        replies = [row[m.bool()].tolist() for row, m in zip(new, new_mask, strict=True)]
        full = torch.cat([mask, new_mask.to(mask.device)], 1)
        for j, key in enumerate(self.keys):
            real = torch.nonzero(full[j, :-1]).squeeze(1)  # cached positions that are tokens, not padding
            kv = [(la.keys[j : j + 1, :, real], la.values[j : j + 1, :, real]) for la in cache.layers]
            tokens = self._prompts[j] + replies[j]
            self.rows[key] = _Row(kv, int(sequences[j, -1]), int(full[j, -1]), tokens)
        return replies


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def _left_pad(rows: list[list[int]], pad_id: int, masks: list[list[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of token ids left-padded to one width, and their mask (1 on the tokens unless ``masks`` says)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = torch.tensor(masks[i]) if masks else 1
    return ids, mask


class AdmissibleOnly(LogitsProcessor):
    """Decode each constrained row's reply as one of its commands (token by token), or as a free thought.

    ``tries[r]`` maps the reply's tokens so far to the tokens that may follow (a command's last token
    is followed by the end token); ``None`` leaves row r free (an ActRe reason). A reply that starts
    with ``think:`` is free after it. Rows past their end token are left alone (``generate`` pads them).
    ``prior[r]``: row r's reply tokens decoded at earlier calls (a reply continued).
    """

    def __init__(self, start: int, tries: list[dict | None], think: tuple[int, ...], prior: list[tuple[int, ...]] | None = None):
        self.start, self.tries, self.think = start, tries, think
        self.prior = prior or [()] * len(tries)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        for r, trie in enumerate(self.tries):
            if trie is None:
                continue
            reply = self.prior[r] + tuple(input_ids[r, self.start :].tolist())
            if reply[: len(self.think)] == self.think:
                continue
            allowed = trie.get(reply)
            if allowed:
                idx = torch.tensor(sorted(allowed), device=scores.device)
                keep = scores[r, idx]
                scores[r] = -torch.inf
                scores[r, idx] = keep
        return scores


@dataclass
class CandidateTree:
    """Candidate replies packed as one prefix tree of tokens: one forward pass scores them all.

    Node j holds ``tokens[j]``, the child of node ``parents[j]`` (-1: of the prompt), at ``depth[j]``
    tokens after the prompt; ``paths[c]`` lists candidate c's nodes. Replies that share a beginning
    (``go to ...``) share its nodes, so the pass reads each distinct prefix once.
    """

    tokens: list[int]
    parents: list[int]
    depth: list[int]
    paths: list[list[int]]

    @classmethod
    def of(cls, sequences: list[tuple[int, ...]]) -> CandidateTree:
        tree, index = cls([], [], [], []), {}
        for seq in sequences:
            for i in range(len(seq)):
                if seq[: i + 1] not in index:
                    index[seq[: i + 1]] = len(tree.tokens)
                    tree.tokens.append(seq[i])
                    tree.parents.append(index[seq[:i]] if i else -1)
                    tree.depth.append(i)
            tree.paths.append([index[seq[: i + 1]] for i in range(len(seq))])
        return tree

    def attention(self) -> torch.Tensor:
        """(nodes, nodes) bool: node j attends to itself and its ancestors."""
        n = len(self.tokens)
        mask = torch.zeros((n, n), dtype=torch.bool)
        for j, parent in enumerate(self.parents):
            if parent >= 0:
                mask[j] = mask[parent]
            mask[j, j] = True
        return mask


def _variants(commands: list[str]) -> list[str]:
    """Each command in both placing grammars: what an admissible reply may be."""
    return [v for c in commands for v in grammar_variants(c)]


def complete_command(reply: str, commands: list[str]) -> str:
    """A constrained reply the token budget cut (``go to garba``) -> the first command it begins; else unchanged."""
    text = " ".join(reply.split())
    if not text or is_thought(text):
        return reply
    variants = _variants(commands)
    if text in variants:
        return reply
    return next((v for v in variants if v.startswith(text)), reply)


def _whole(replies: list[str], allowed: list[list[str] | None]) -> list[str]:
    """Each constrained reply made a whole command (``allowed`` empty: nothing constrained)."""
    allowed = allowed or [None] * len(replies)
    return [r if a is None or r is None else complete_command(r, a) for r, a in zip(replies, allowed, strict=True)]


ACTIONS = ("free", "admissible", "scored")


class LLMPlayer:
    """ReAct policy: the chat history of each live episode -> its next action (greedy unless ``temperature``).

    ``reuse_cache``: keep the batch's KV cache from step to step (:class:`PrefixCache`), so that a
    step prefills only the new observation instead of the whole history. ``actions="admissible"``:
    an action is decoded among the env's admissible commands (:class:`AdmissibleOnly`; a thought
    stays free text); ``"scored"``: each admissible command (and ``think:``) is scored by the summed
    log-probability of its tokens, all in one forward pass over the cached prompt (:meth:`score`); the
    agent thinks when ``think:`` is likelier than all commands together (a thought is decoded token by
    token), else takes the best command (sampled at ``temperature`` > 0);
    ``"free"``: any text, as ReAct and the paper. ``think_limit`` (admissible or scored; 0: none): after
    this many thoughts in a row the agent must act (the teacher thinks at most twice in a row; a small
    model left free can think in circles until the step limit).

    ``decode_chunk`` (> 0, with the prefix cache): :meth:`act` decodes at most this many tokens of each reply per
    call, and a slot whose reply is unfinished sits the env step out and goes on at the next call. A batch
    step then costs a chunk, not the longest thought: the slots that chose a command act at once, while the
    few that think decode beside the next step's. Greedy replies are the same tokens either way.
    """

    def __init__(
        self,
        model,
        tok,
        max_len: int = 1536,
        max_new_tokens: int = 48,
        temperature: float = 0.0,
        seed: int = 0,
        reuse_cache: bool = True,
        actions: str = "free",
        think_limit: int = 0,
        decode_chunk: int = 0,
    ):
        if actions not in ACTIONS:
            raise ValueError(f"actions must be one of {ACTIONS}, got {actions!r}")
        if decode_chunk < 0:
            raise ValueError(f"decode_chunk must be >= 0, got {decode_chunk}")
        self.decode_chunk = decode_chunk if reuse_cache else 0
        self._pending: dict = {}  # key -> the reply tokens decoded so far, of a reply unfinished at the last call
        self.model, self.tok, self.actions, self.think_limit = model, tok, actions, think_limit
        self._ids: dict[str, tuple[int, ...]] = {}  # command -> its tokens, for the tries
        self.max_len, self.max_new_tokens, self.temperature = max_len, max_new_tokens, temperature
        self.seed = seed
        self.generated_tokens = 0
        self._lengths: dict[int, list[int]] = {}
        self._first: dict[int, int] = {}  # per slot, the first message after the opening that its prompt keeps
        self.prefix = PrefixCache(model, tok.pad_token_id, tok.eos_token_id, spare=max_new_tokens) if reuse_cache else None

    @property
    def engine_line(self) -> str:
        """What generates, for the stage's log and manifest."""
        return f"engine: torch ({str(self.model.dtype).removeprefix('torch.')} weights, {self.model.device})"

    def start(self, slot: int, game, traj: Trajectory, rng: random.Random) -> None:
        self._lengths[slot] = [self._len(traj.initial_observation)]
        self._first[slot] = 1
        self._pending = {k: v for k, v in self._pending.items() if k[0] != slot}

    def _len(self, text: str) -> int:
        return message_length(self.tok, text)

    def prompt(self, slot: int, traj: Trajectory) -> str:
        """The chat prompt of the episode's next step: its opening, then as many of its latest steps as fit.

        A history past the budget drops its oldest steps down to three quarters of the budget at once, and
        keeps that start until it overflows again: the prompt then extends the cached one for several
        steps, where dropping one step at a time would change its beginning, and re-prefill the whole
        row, at every step (:class:`PrefixCache`).
        """
        lengths = self._lengths[slot]
        for step in traj.steps[(len(lengths) - 1) // 2 :]:  # message lengths are counted once, as steps arrive
            lengths += [self._len(step.action), self._len(step.observation)]
        budget, first = self.max_len - self.max_new_tokens - 2, self._first[slot]
        total = lengths[0] + sum(lengths[first:])
        if total > budget:
            while total > budget * 3 // 4 and first + 2 < len(lengths):
                total -= lengths[first] + lengths[first + 1]
                first += 2
            self._first[slot] = first
        msgs = messages(traj.initial_observation, traj.steps)
        return self.tok.apply_chat_template(msgs[:1] + msgs[first:], tokenize=False, add_generation_prompt=True)

    def _tokens(self, text: str) -> tuple[int, ...]:
        ids = self._ids.get(text)
        if ids is None:
            ids = self._ids[text] = tuple(self.tok(text, add_special_tokens=False)["input_ids"])
        return ids

    def trie(self, commands: list[str], think: bool = True) -> dict[tuple[int, ...], set[int]]:
        """Reply tokens so far -> the tokens that may follow: a command (either grammar) then the end token, or
        ``think:`` (when ``think``)."""
        trie: dict[tuple[int, ...], set[int]] = {}
        seqs = [self._tokens(v) + (self.tok.eos_token_id,) for v in _variants(commands)]
        for seq in [*seqs, *[self._tokens(THINK_PREFIX)] * think]:
            for i in range(len(seq)):
                trie.setdefault(seq[:i], set()).add(seq[i])
        return trie

    @torch.no_grad()
    def generate(
        self,
        prompts: list[str],
        keys: list | None = None,
        allowed: list[list[str] | None] | None = None,
        may_think: list[bool] | None = None,
        partial: bool = False,
    ) -> list[str | None]:
        """Replies to ``prompts``; ``keys`` name the episodes, so that their cached prefixes can be reused.

        ``allowed``: per prompt, its admissible commands (``None``: free text, an ActRe prompt). With
        ``actions="admissible"`` or ``"scored"`` the reply is one of them or, where ``may_think`` (default:
        everywhere) allows, a thought; with ``"free"`` they are ignored. ``partial`` (with keys and
        ``decode_chunk``): a reply decoded ``decode_chunk`` tokens at a time; ``None`` for one not finished
        yet, which the next call with the same key and prompt continues (scored commands are whole at once).
        """
        tokens = self.tok(prompts, add_special_tokens=False)["input_ids"]
        keys = keys if self.prefix is not None else None
        if self.prefix is not None:
            self.prefix.age()
        allowed = allowed or [None] * len(prompts)
        may_think = may_think or [True] * len(prompts)
        if self.actions == "scored":
            return self._generate_scored(tokens, keys, allowed, may_think)
        constrain = allowed if self.actions == "admissible" else [None] * len(prompts)
        return _whole(self._decode(tokens, keys, constrain, may_think, partial), constrain)

    def _decode(
        self,
        tokens: list[list[int]],
        keys: list | None,
        constrain: list[list[str] | None],
        may_think: list[bool] | None = None,
        partial: bool = False,
    ) -> list[str | None]:
        """Replies decoded token by token (greedy unless ``temperature``), each constrained to its commands or free;
        with ``partial``, ``decode_chunk`` tokens at a time (see :meth:`generate`)."""
        partial = partial and keys is not None and self.decode_chunk > 0
        prior = [tuple(self._pending.pop(k, ())) for k in keys] if partial else [()] * len(tokens)
        tokens = [t + list(p) for t, p in zip(tokens, prior, strict=True)]
        kwargs = {"do_sample": self.temperature > 0}
        if self.temperature > 0:
            kwargs.update(temperature=self.temperature, top_k=0, top_p=1.0)
        limit = min(self.decode_chunk, self.max_new_tokens) if partial else self.max_new_tokens
        kwargs.update(max_new_tokens=limit, eos_token_id=self.tok.eos_token_id, pad_token_id=self.tok.pad_token_id)
        may_think = may_think or [True] * len(tokens)
        tries = [None if a is None else self.trie(a, think) for a, think in zip(constrain, may_think, strict=True)]

        def processors(start: int) -> LogitsProcessorList:
            constrained = any(t is not None for t in tries)
            return LogitsProcessorList([AdmissibleOnly(start, tries, self._tokens(THINK_PREFIX), prior)] if constrained else [])

        if keys is None:
            ids, mask = _left_pad(tokens, self.tok.pad_token_id)
            ids, mask = ids.to(self.model.device), mask.to(self.model.device)
            out = self.model.generate(input_ids=ids, attention_mask=mask, **kwargs, logits_processor=processors(ids.shape[1]))
            new = out[:, ids.shape[1] :]
            self.generated_tokens += int((new != self.tok.pad_token_id).sum())
            return self.tok.batch_decode(new, skip_special_tokens=True)
        ids, mask, cache = self.prefix.inputs(keys, tokens)
        out = self.model.generate(
            input_ids=ids,
            attention_mask=mask,
            return_dict_in_generate=True,
            logits_processor=processors(ids.shape[1]),
            **kwargs,
            **{_CACHE: cache},
        )
        new = self.prefix.update(ids, mask, out.sequences, getattr(out, _CACHE))
        self.generated_tokens += sum(len(r) for r in new)
        replies: list[str | None] = []
        for key, before, after in zip(keys, prior, new, strict=True):
            reply = [*before, *after]
            if partial and not (after and after[-1] == self.tok.eos_token_id) and len(reply) < self.max_new_tokens:
                self._pending[key] = reply
                replies.append(None)
            else:
                replies.append(self.tok.decode(reply[: self.max_new_tokens], skip_special_tokens=True))
        return replies

    def _generate_scored(
        self, tokens: list[list[int]], keys: list | None, allowed: list[list[str] | None], may_think: list[bool]
    ) -> list[str]:
        """``actions="scored"``: each constrained row's reply chosen by :meth:`score`; thoughts and free rows decoded together."""
        think = self._tokens(THINK_PREFIX)
        replies: list[str | None] = [None] * len(tokens)
        free: list[int] = []  # rows decoded token by token: free prompts, and the rows that chose to think
        for j, commands in enumerate(allowed):
            if commands is None:
                free.append(j)
                continue
            variants = _variants(commands)
            candidates = [self._tokens(v) + (self.tok.eos_token_id,) for v in variants] + [think] * may_think[j]
            scores = self.score(tokens[j], candidates, keys[j] if keys else None)
            if not may_think[j] or torch.logsumexp(scores[:-1], 0) >= scores[-1]:  # acting is likelier: the best command
                choice = self._choose(scores[: len(variants)])
                replies[j] = variants[choice]
                self.generated_tokens += len(candidates[choice])
            else:
                tokens[j] = tokens[j] + list(think)
                free.append(j)
        if free:
            texts = self._decode([tokens[j] for j in free], [keys[j] for j in free] if keys else None, [None] * len(free))
            for j, text in zip(free, texts, strict=True):
                replies[j] = text if allowed[j] is None else THINK_PREFIX + text
        return replies

    def _choose(self, scores: torch.Tensor) -> int:
        """The best candidate (greedy), or one drawn from softmax(scores / temperature)."""
        if self.temperature > 0:
            return int(torch.multinomial(torch.softmax(scores / self.temperature, 0), 1))
        return int(scores.argmax())

    def score(self, prompt: list[int], candidates: list[tuple[int, ...]], key=None) -> torch.Tensor:
        """log p(candidate | prompt) for each candidate token sequence, all in one forward pass.

        The candidates are packed as a :class:`CandidateTree` after the prompt's uncached tokens; a 4D
        attention mask lets each node see the prompt and its own ancestors only, so a candidate's
        tokens are scored exactly as if it were decoded alone. With ``key``, the prompt's keys/values
        come from and go back to the prefix cache (the candidates' own are dropped).
        """
        row = self.prefix.rows.get(key) if key is not None else None
        if row is not None and self.prefix.extends(row, prompt):  # its last token is uncached, or padding (masked)
            new, past, cache = [row.last] * row.last_mask + prompt[len(row.tokens) :], row.kv[0][0].shape[2], None
            self.prefix.appended += 1
        else:
            new, past, cache = list(prompt), 0, DynamicCache()
            if key is not None:
                self.prefix.prefilled += 1
        tree = CandidateTree.of(candidates)
        u, n = len(new), len(tree.tokens)
        if cache is None:
            cache = _SpareCache([row.kv], past, u + n)
        mask = torch.zeros((u + n, past + u + n), dtype=torch.bool)
        mask[:, :past] = True
        mask[:u, past : past + u] = torch.tril(torch.ones((u, u), dtype=torch.bool))
        mask[u:, past : past + u] = True
        mask[u:, past + u :] = tree.attention()
        positions = torch.tensor([*range(past, past + u), *(past + u + d for d in tree.depth)])
        dev = self.model.device
        out = self.model(
            input_ids=torch.tensor([new + tree.tokens], device=dev),
            attention_mask=mask[None, None].to(dev),
            position_ids=positions[None].to(dev),
            use_cache=True,
            logits_to_keep=n + 1,
            **{_CACHE: cache},
        )
        logp = out.logits[0].float().log_softmax(-1).cpu()  # row 0: after the prompt; row 1 + j: after node j
        node_logp = logp[torch.tensor(tree.parents) + 1, torch.tensor(tree.tokens)]
        if key is not None:
            kv = [(la.keys[:, :, : past + u - 1], la.values[:, :, : past + u - 1]) for la in getattr(out, _CACHE).layers]
            self.prefix.store(key, prompt, kv)
        return torch.stack([node_logp[path].sum() for path in tree.paths])

    def may_think(self, traj: Trajectory) -> bool:
        """Whether the agent may think at its next step: fewer than ``think_limit`` thoughts in a row so far."""
        if not self.think_limit:
            return True
        recent = traj.steps[-self.think_limit :]
        return len(recent) < self.think_limit or not all(s.is_thought for s in recent)

    def sampling_seed(self, traj: Trajectory) -> int:
        """The seed of a sampled step: what is being decided (not the batch make-up), so reruns are identical."""
        return zlib.crc32(f"{self.seed}/{traj.task_id}/{traj.sample}/{len(traj.steps)}".encode())

    def seed_for(self, traj: Trajectory) -> None:
        """Seed sampling by what is being decided (:meth:`sampling_seed`)."""
        if self.temperature > 0:
            torch.manual_seed(self.sampling_seed(traj))

    def act(self, trajs: dict[int, Trajectory], admissible: dict[int, list[str]]) -> dict[int, tuple[str, str]]:
        """Each slot's next (action, source). With ``decode_chunk``, a slot whose reply is unfinished is left out: not
        stepped this time (``run_episodes`` steps the slots it is given)."""
        slots = sorted(trajs)
        self.seed_for(trajs[slots[0]])
        keys = [(s, trajs[s].task_id, trajs[s].sample) for s in slots]
        prompts = [self.prompt(s, trajs[s]) for s in slots]
        allowed, may_think = [admissible[s] for s in slots], [self.may_think(trajs[s]) for s in slots]
        replies = self.generate(prompts, keys, allowed, may_think, partial=self.decode_chunk > 0)
        return {s: (parse_action(r) or "look", "policy") for s, r in zip(slots, replies, strict=True) if r is not None}
