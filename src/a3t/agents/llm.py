"""The language agent as a batched player: one ``generate`` call per step for every live episode."""

from __future__ import annotations

import random
import zlib

import torch
from transformers import DynamicCache, LogitsProcessorList

from a3t.agents.constrained import AdmissibleOnly, CandidateTree, command_variants, whole_commands
from a3t.agents.kv_cache import CACHE_ARG, PrefixCache, SpareCache, left_pad
from a3t.agents.prompts import message_length, messages, parse_action
from a3t.envs.grammar import THINK_PREFIX
from a3t.settings import ACTIONS
from a3t.trajectory import Trajectory


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
        seqs = [self._tokens(v) + (self.tok.eos_token_id,) for v in command_variants(commands)]
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
        return whole_commands(self._decode(tokens, keys, constrain, may_think, partial), constrain)

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
        tokens, prior = self._resume(tokens, keys, partial)
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
            ids, mask = left_pad(tokens, self.tok.pad_token_id)
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
            **{CACHE_ARG: cache},
        )
        new = self.prefix.update(ids, mask, out.sequences, getattr(out, CACHE_ARG))
        self.generated_tokens += sum(len(r) for r in new)
        return self._replies(keys, prior, new, partial)

    def _resume(self, tokens: list[list[int]], keys: list | None, partial: bool) -> tuple[list[list[int]], list[tuple]]:
        """With ``partial``: each prompt followed by its reply's tokens decoded at earlier calls (``prior``), taken
        from the pending replies; else the prompts as they are and no prior tokens."""
        prior = [tuple(self._pending.pop(k, ())) for k in keys] if partial else [()] * len(tokens)
        return [t + list(p) for t, p in zip(tokens, prior, strict=True)], prior

    def _replies(self, keys: list, prior: list[tuple], new: list[list[int]], partial: bool) -> list[str | None]:
        """Each reply's text from its prior and new tokens; with ``partial``, ``None`` for one not finished yet (no
        end token, room left), kept pending for the next call."""
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
            variants = command_variants(commands)
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
            cache = SpareCache([row.kv], past, u + n)
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
            **{CACHE_ARG: cache},
        )
        logp = out.logits[0].float().log_softmax(-1).cpu()  # row 0: after the prompt; row 1 + j: after node j
        node_logp = logp[torch.tensor(tree.parents) + 1, torch.tensor(tree.tokens)]
        if key is not None:
            kv = [(la.keys[:, :, : past + u - 1], la.values[:, :, : past + u - 1]) for la in getattr(out, CACHE_ARG).layers]
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
