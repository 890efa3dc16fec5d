"""Batched generation with prefix-cache reuse gives exactly what generating each prompt alone gives."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import MistralConfig, MistralForCausalLM

from a3t.agents.kv_cache import CACHE_ARG, PrefixCache, SpareCache

PAD, EOS, VOCAB = 0, 4, 300


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    config = MistralConfig(
        vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=512, pad_token_id=PAD, eos_token_id=EOS,
    )  # fmt: skip
    m = MistralForCausalLM(config).eval()
    with torch.no_grad():  # make the end token likely, so that replies end at different lengths
        m.lm_head.weight[EOS] += 0.4 * m.model.embed_tokens.weight.mean(0) / m.model.embed_tokens.weight.mean(0).norm()
    return m


def alone(model, prompt: list[int], max_new: int) -> list[int]:
    """Greedy reply to one prompt, no padding, no cache carried over."""
    ids = torch.tensor([prompt])
    out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new, do_sample=False,
                         eos_token_id=EOS, pad_token_id=PAD)  # fmt: skip
    reply = out[0, len(prompt) :].tolist()
    return reply[: reply.index(EOS) + 1] if EOS in reply else reply


def batched(model, cache: PrefixCache, keys: list, prompts: list[list[int]], max_new: int) -> list[list[int]]:
    ids, mask, kv = cache.inputs(keys, prompts)
    out = model.generate(input_ids=ids, attention_mask=mask, **{CACHE_ARG: kv}, return_dict_in_generate=True,
                         max_new_tokens=max_new, do_sample=False, eos_token_id=EOS, pad_token_id=PAD)  # fmt: skip
    return cache.update(ids, mask, out.sequences, getattr(out, CACHE_ARG))  # the cache's name in this transformers


@torch.no_grad()
def test_prefix_cache_replies_equal_generation_alone(model):
    rng = random.Random(0)

    def words(n):
        return [rng.randrange(10, VOCAB) for _ in range(n)]

    cache = PrefixCache(model, PAD, EOS)
    held = {k: words(rng.randrange(5, 40)) for k in "abcd"}
    schedule = [  # keys asked for at each step: rows leave, join, come back (kept aside), and get replaced
        "abc", "abc", "ab", "abd", "cabd", "bd", "abcd",
    ]  # fmt: skip
    for step, keys in enumerate(schedule):
        if step == 5:
            held["b"] = words(12)  # b's prompt no longer extends what b holds: prefilled again
        prompts = [held[k] for k in keys]
        replies = batched(model, cache, list(keys), prompts, max_new=8)
        for k, p, r in zip(keys, prompts, replies, strict=True):
            assert r == alone(model, p, 8), f"step {step}, row {k}"
            held[k] = p + r + words(rng.randrange(1, 6))  # the next prompt: this one, the reply, a new observation
    assert cache.appended > cache.prefilled > 0  # both paths ran, and appending was the common one
    assert any(len(r) < 8 for r in replies)  # some replies ended early: padding inside rows was exercised


def test_spare_cache_grows_past_its_room_and_holds_the_same_keys():
    """The batch's cache appends into spare room and reallocates when full: same keys/values as concatenating."""
    rows = [[(torch.randn(1, 2, n, 8), torch.randn(1, 2, n, 8))] for n in (3, 5)]
    cache = SpareCache(rows, width=5, room=1)
    steps = [(torch.randn(2, 2, 1, 8), torch.randn(2, 2, 1, 8)) for _ in range(4)]  # 4 tokens into room for 1
    for k, v in steps:
        keys, values = cache.layers[0].update(k, v)
    for got, which in ((keys, 0), (values, 1)):
        first = torch.cat([torch.zeros(1, 2, 2, 8), rows[0][0][which]], 2)  # row 0 left-padded with zeros to width 5
        assert torch.equal(got, torch.cat([torch.cat([first, rows[1][0][which]]), *[s[which] for s in steps]], 2))
    assert cache.get_seq_length() == 9


OPENING = "You are in the middle of a room. You see a cabinet 1 and a fridge 1.\n\nYour task is to: put a apple in fridge."


def agent_tokenizer(texts: list[str]):
    """A small BPE tokenizer over the game texts, left-padded as ``load_agent`` sets it."""
    from a3t.stages.base_model import build_tokenizer

    tok = build_tokenizer(texts * 3, vocab_size=400)
    tok.padding_side = "left"
    return tok


def agent_model(tok, seed: int = 0):
    """An untrained 2-layer agent model over ``tok``, seeded."""
    from a3t.stages.base_model import build_model

    torch.manual_seed(seed)
    return build_model(tok, hidden=64, layers=2, heads=4, kv_heads=2, intermediate=128, max_len=512).eval()


def test_admissible_actions_are_decoded_among_the_commands():
    """``actions="admissible"`` or ``"scored"``: every action is one of the commands (either grammar) or a thought;
    free text is not."""
    from a3t.agents.llm import LLMPlayer
    from a3t.trajectory import Step, Trajectory

    commands = ["go to cabinet 1", "open fridge 1", "take apple 1 from cabinet 1", "move apple 1 to fridge 1"]
    tok = agent_tokenizer(
        [OPENING, *commands, "put apple 1 in/on fridge 1", "think: First I need to find an apple.", "Nothing happens."]
    )
    replies: dict[str, list[str]] = {"free": [], "admissible": [], "uncached": [], "cut": [], "scored": [], "scored uncached": []}
    for seed in range(6):
        model = agent_model(tok, seed)
        trajs = {
            s: Trajectory(f"t{s}", "pick_and_place_simple", "put a apple in fridge", OPENING, [Step(commands[s], "OK.")] * s)
            for s in range(4)
        }
        adm = {s: commands for s in trajs}
        for name, kwargs in (("free", {}), ("admissible", {"actions": "admissible"}),
                             ("uncached", {"actions": "admissible", "reuse_cache": False}),
                             ("cut", {"actions": "admissible", "max_new_tokens": 2}), ("scored", {"actions": "scored"}),
                             ("scored uncached", {"actions": "scored", "reuse_cache": False})):  # fmt: skip
            player = LLMPlayer(model, tok, max_len=512, **{"max_new_tokens": 12, **kwargs})
            for s, t in trajs.items():
                player.start(s, None, t, random.Random(0))
            replies[name] += [a for a, _ in player.act(trajs, adm).values()]
    allowed = {*commands, "put apple 1 in/on fridge 1"}
    for name in ("admissible", "cut", "scored"):  # a command the token budget cut is completed
        assert all(a in allowed or a.startswith("think:") for a in replies[name]), replies[name]
    assert any(len(tok(a, add_special_tokens=False)["input_ids"]) > 2 for a in replies["cut"] if a in allowed)
    assert any(a in allowed for a in replies["admissible"])
    assert not any(a in allowed for a in replies["free"])  # untrained models: free text is no command
    assert replies["uncached"] == replies["admissible"]  # the prefix cache does not change what is allowed
    assert replies["scored uncached"] == replies["scored"]  # ... nor what scoring chooses
    with pytest.raises(ValueError, match="actions"):
        LLMPlayer(model, tok, actions="nearest")


def logp_alone(model, prompt: list[int], candidate: tuple[int, ...]) -> float:
    """log p(candidate | prompt) from one plain forward pass over prompt + candidate (no cache, no tree)."""
    ids = torch.tensor([prompt + list(candidate)])
    logp = model(ids).logits[0, len(prompt) - 1 : -1].log_softmax(-1)
    return float(logp[torch.arange(len(candidate)), torch.tensor(candidate)].sum())


@torch.no_grad()
def test_scoring_candidates_in_one_tree_pass_equals_scoring_each_alone(model):
    """``LLMPlayer.score``: the packed tree over the cached prompt gives each candidate's own log-probability,
    whether the prompt is prefilled or extends what the cache holds; shared beginnings are read once."""
    from types import SimpleNamespace

    from a3t.agents.constrained import CandidateTree
    from a3t.agents.llm import LLMPlayer

    rng = random.Random(1)
    player = LLMPlayer(model, SimpleNamespace(pad_token_id=PAD, eos_token_id=EOS), actions="scored")
    candidates = [(11, 12, 13, EOS), (11, 12, 14, EOS), (11, 15, EOS), (20, EOS), (11, 12)]  # one a prefix of another
    tree = CandidateTree.of(candidates)
    assert len(tree.tokens) == 10 and tree.depth[:4] == [0, 1, 2, 3]  # 11, 12 shared: 10 nodes for 15 tokens
    prompt = [rng.randrange(10, VOCAB) for _ in range(30)]
    for step in range(3):  # prefilled, then twice extending the cached row
        player.prefix.age()
        got = player.score(prompt, candidates, key="a")
        want = torch.tensor([logp_alone(model, prompt, c) for c in candidates])
        assert torch.allclose(got, want, atol=1e-4), (step, got, want)
        prompt = prompt + [11, 15, EOS] + [rng.randrange(10, VOCAB) for _ in range(5)]
    assert player.prefix.rows["a"].tokens == prompt[:-8] and (player.prefix.prefilled, player.prefix.appended) == (1, 2)
    uncached = player.score(prompt, candidates)  # no key: the whole prompt prefilled, nothing stored
    assert torch.allclose(uncached, torch.tensor([logp_alone(model, prompt, c) for c in candidates]), atol=1e-4)


def thinking_model(tok, seed: int = 0):
    """:func:`agent_model` whose every reply starts a thought when free to: the first token of ``think:`` gets +20 on
    its logit."""
    model = agent_model(tok, seed)
    bias = torch.zeros(model.config.vocab_size)
    bias[tok("think:", add_special_tokens=False)["input_ids"][0]] = 20.0
    model.lm_head.register_forward_hook(lambda module, args, logits: logits + bias)
    return model


def test_think_limit_makes_the_agent_act_after_that_many_thoughts_in_a_row():
    """``think_limit``: a thought is allowed until the last ``think_limit`` steps were all thoughts; then the reply is
    a command, whether decoded among the admissible commands or scored. The model would think at every step: without
    the limit it does, in both modes."""
    from a3t.agents.llm import LLMPlayer
    from a3t.trajectory import Step, Trajectory

    commands = ["go to cabinet 1", "open fridge 1", "take apple 1 from cabinet 1"]
    thought = Step("think: First I need to find an apple.", "OK.")
    tok = agent_tokenizer([OPENING, *commands, thought.action, "OK."])
    model = thinking_model(tok)
    histories = {0: [thought, thought], 1: [Step(commands[0], "OK."), thought], 2: [thought, thought, Step(commands[1], "OK.")]}
    trajs = {s: Trajectory(f"t{s}", "pick_and_place_simple", "put a apple in fridge", OPENING, h) for s, h in histories.items()}
    for actions in ("admissible", "scored"):
        for limit in (2, 0):
            player = LLMPlayer(model, tok, max_len=512, max_new_tokens=12, actions=actions, think_limit=limit)
            assert [player.may_think(t) for t in trajs.values()] == ([False, True, True] if limit else [True] * 3)
            for s, t in trajs.items():
                player.start(s, None, t, random.Random(0))
            replies = {s: a for s, (a, _) in player.act(trajs, {s: commands for s in trajs}).items()}
            thinks = [replies[s].startswith("think:") for s in sorted(replies)]
            assert thinks == ([False, True, True] if limit else [True] * 3), (actions, limit, replies)
            if limit:
                assert replies[0] in commands, (actions, replies)


def test_a_long_history_is_trimmed_in_chunks_so_the_prompt_keeps_extending():
    """Past its budget a prompt drops its oldest steps down to 3/4 of it at once: it stays within the budget, and
    the next steps' prompts extend it (the prefix cache appends) until it overflows again."""
    from a3t.agents.llm import LLMPlayer
    from a3t.trajectory import Step, Trajectory

    step = Step("go to cabinet 1", "You arrive at cabinet 1. The cabinet 1 is closed.")
    tok = agent_tokenizer([OPENING, step.action, step.observation])
    player = LLMPlayer(agent_model(tok), tok, max_len=300, max_new_tokens=20)  # only prompts: the model never runs
    traj = Trajectory("t", "pick_and_place_simple", "put a apple in fridge", OPENING)
    player.start(0, None, traj, random.Random(0))
    prompts = []
    for _ in range(40):
        prompts.append(tok(player.prompt(0, traj), add_special_tokens=False)["input_ids"])
        traj.steps.append(step)
    budget = 300 - 20 - 2
    assert all(len(p) <= budget for p in prompts) and max(len(p) for p in prompts) > budget * 3 // 4
    restarts = [k for k in range(1, len(prompts)) if prompts[k][: len(prompts[k - 1])] != prompts[k - 1]]
    assert 2 <= len(restarts) <= 40 // 4  # one step at a time would restart at every step past the budget
    assert all(len(prompts[k]) <= budget * 3 // 4 + 30 for k in restarts)  # each restart drops to 3/4 (+ one step)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_replies_decoded_a_chunk_per_step_are_the_replies_decoded_whole(dtype):
    """``decode_chunk``: a slot whose reply is unfinished after a chunk sits the step out and goes on at the next
    call; each episode's actions are the same as decoding every reply whole (greedy), whether constrained to the
    commands (longer than a chunk) or free text (an untrained model's runs to the token budget), in float32 and in
    bfloat16 (the default config's dtype where the CPU has it)."""
    from a3t.agents.llm import LLMPlayer
    from a3t.trajectory import Step, Trajectory

    commands = ["go to cabinet 1", "open fridge 1", "take apple 1 from cabinet 1", "move apple 1 to fridge 1"]
    tok = agent_tokenizer([OPENING, *commands, "think: First I need to find an apple.", "OK.", "Nothing happens."])
    steps, left_out = 5, {"admissible": 0, "free": 0}
    for seed, actions in ((0, "admissible"), (1, "admissible"), (2, "free")):
        model = agent_model(tok, seed).to(dtype)
        played = {}
        for chunk in (0, 3):
            player = LLMPlayer(model, tok, max_len=512, max_new_tokens=12, actions=actions, decode_chunk=chunk)
            trajs = {s: Trajectory(f"t{s}", "pick_and_place_simple", "put a apple in fridge", OPENING) for s in range(4)}
            for s, t in trajs.items():
                player.start(s, None, t, random.Random(0))
            while live := {s: t for s, t in trajs.items() if len(t.steps) < steps}:
                choices = player.act(live, {s: commands[s:] for s in live})
                left_out[actions] += len(live) - len(choices)
                for s, (action, _) in choices.items():
                    trajs[s].steps.append(Step(action, "OK." if action.startswith("think:") else "Nothing happens."))
            played[chunk] = {s: [x.action for x in t.steps] for s, t in trajs.items()}
        assert played[3] == played[0], (seed, actions)
    assert left_out["admissible"] > 0 and left_out["free"] > 0  # replies took more than one call
    with pytest.raises(ValueError, match="decode_chunk"):
        LLMPlayer(model, tok, decode_chunk=-1)
