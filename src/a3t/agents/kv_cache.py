"""The torch player's KV cache across env steps: each episode's keys/values kept from step to step, so that a step
prefills only its new tokens; rows left-padded into one batch for ``generate``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers import DynamicCache
from transformers.cache_utils import Cache, DynamicLayer
from transformers.modeling_outputs import CausalLMOutputWithPast

# transformers renamed a model's cache argument and output field from ``past_key_values`` to ``cache`` within 5.x
# (5.25 has ``cache``; 5.17, on the GPU machine, ``past_key_values`` alone): the one this install has.
CACHE_ARG = "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"


@dataclass
class _Row:
    """One episode's cached prompt: the keys/values of its tokens (no padding), and the one token not cached yet."""

    kv: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, (1, heads, length, dim)
    last: int
    last_mask: int
    tokens: list[int]  # the real tokens: prompt + reply
    age: int = 0  # calls since it was last used


class SpareLayer(DynamicLayer):
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


class SpareCache(DynamicCache):
    """A ``DynamicCache`` of :class:`SpareLayer` holding each row's keys/values right-aligned at ``width``.

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
            layers.append(SpareLayer(keys, values, width))
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
            ids, mask = left_pad([prompts[j][:-1] for j in fresh], self.pad_id)
            ids, mask = ids.to(self.model.device), mask.to(self.model.device)
            out = self.model(
                input_ids=ids, attention_mask=mask, position_ids=positions(mask), use_cache=True, **{CACHE_ARG: DynamicCache()}
            )
            for r, j in enumerate(fresh):
                start = int(mask.shape[1] - mask[r].sum())
                kv = [(la.keys[r : r + 1, :, start:], la.values[r : r + 1, :, start:]) for la in getattr(out, CACHE_ARG).layers]
                cached[j] = kv
                uncached[j] = ([prompts[j][-1]], [1])
        lengths = torch.tensor([kv[0][0].shape[2] for kv in cached])
        width = int(lengths.max())
        u_ids, u_mask = left_pad([ids for ids, _ in uncached], self.pad_id, [m for _, m in uncached])
        ids = torch.cat([torch.full((len(keys), width), self.pad_id, dtype=torch.long), u_ids], 1)
        mask = torch.cat([(torch.arange(width) >= width - lengths[:, None]).long(), u_mask], 1)
        self.keys, self._prompts = list(keys), prompts
        dev = self.model.device
        cache = SpareCache(cached, width, ids.shape[1] - width + self.spare)
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


def positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.long().cumsum(-1) - 1).clamp(min=0)


def left_pad(rows: list[list[int]], pad_id: int, masks: list[list[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rows of token ids left-padded to one width, and their mask (1 on the tokens unless ``masks`` says)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[i, width - len(r) :] = torch.tensor(masks[i]) if masks else 1
    return ids, mask
