"""Rounds >= 1 pieces on hand-made inputs: ActRe prompts and labels, exploration sampling, filtering, accumulation."""

from __future__ import annotations

import random

import pytest

from a3t.agents.actre import actre_messages, actre_prompt, encode_actre, has_reasons, parse_reason
from a3t.agents.scripted_actre import ScriptedActRe, parse_command, scripted_reason
from a3t.stages.base_model import build_tokenizer
from a3t.stages.dataset import accumulate
from a3t.stages.explore import FORCE_AFTER, ExplorePlayer, choose_sample, invalid_streak
from a3t.stages.filter import select
from a3t.trajectory import Step, Trajectory

OPEN = "You are in the middle of a room. Looking around you, you see a cabinet 1.\n\nYour task is to: put a apple in fridge."


def traj(task="t1", won=True, steps=None, origin="explore") -> Trajectory:
    steps = steps or [
        Step("think: First I need to find an apple.", "OK.", "actre"),
        Step("go to cabinet 1", "On the cabinet 1, you see a apple 1.", "sampled"),
        Step("take apple 1 from cabinet 1", "You pick up the apple 1 from the cabinet 1.", "policy"),
    ]
    return Trajectory(task, "pick_and_place_simple", "put a apple in fridge", OPEN, steps, won=won, origin=origin)


@pytest.fixture(scope="module")
def tok():
    t = traj()
    texts = [OPEN] + [s.action for s in t.steps] + [s.observation for s in t.steps] + ["act: reason:"] * 5
    return build_tokenizer(texts * 3, vocab_size=400)


def test_actre_view_folds_thought_into_the_action_turn():
    msgs = actre_messages(OPEN, traj().steps)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == "act: go to cabinet 1\nreason: First I need to find an apple."
    assert msgs[3]["content"] == "act: take apple 1 from cabinet 1"  # no thought before it: no reason


def test_actre_prompt_ends_with_the_opened_reason(tok):
    prompt = actre_prompt(tok, OPEN, traj().steps, "go to fridge 1", budget=1000)
    assert prompt.endswith("<|assistant|>act: go to fridge 1\nreason:")
    assert "act: go to cabinet 1\nreason: First I need to find an apple.<|end|>" in prompt


def test_parse_reason_takes_the_first_line():
    assert parse_reason("  I need  the apple.\nact: go to x") == "I need the apple."
    assert parse_reason("   \n") == ""


def test_actre_labels_cover_only_the_reasons(tok):
    enc = encode_actre(traj(), tok, max_len=512)
    labelled = [i for i, lab in zip(enc["input_ids"], enc["labels"], strict=True) if lab != -100]
    text = tok.decode(labelled)
    assert "First I need to find an apple." in text and text.endswith("<|end|>")
    assert "go to cabinet" not in text and "take apple" not in text and "cabinet 1, you see" not in text
    assert has_reasons(traj()) and not has_reasons(traj(steps=[Step("look", "x")]))


def test_sampling_is_seeded_and_forced_after_invalid_actions():
    adm = ["go to cabinet 1", "go to fridge 1", "look", "inventory"]
    draws = [choose_sample(random.Random(f"s{k}"), 0.5, [], adm) for k in range(40)]
    assert draws == [choose_sample(random.Random(f"s{k}"), 0.5, [], adm) for k in range(40)]  # same seed, same draws
    assert None in draws and "go to fridge 1" in draws and not {"look", "inventory"} & set(draws)
    bad = [Step("open the moon", "Nothing happens.", "policy")] * FORCE_AFTER
    assert invalid_streak(bad) == FORCE_AFTER
    for seed in range(20):  # p = 0: never sampled, unless forced
        assert choose_sample(random.Random(seed), 0.0, bad[:-1], adm) is None
        assert choose_sample(random.Random(seed), 0.0, bad, adm) in ("go to cabinet 1", "go to fridge 1")
    # forced, nearest: among the commands closest to the last invalid one
    adm = ["go to stoveburner 3", "take pot 1 from stoveburner 3", "take pan 1 from stoveburner 3", "examine stoveburner 3"]
    wrong = [Step("take pot 2 from stoveburner 4", "Nothing happens.", "policy")] * FORCE_AFTER
    assert {choose_sample(random.Random(k), 0.0, wrong, adm, forced_nearest=True) for k in range(20)} == {adm[1]}
    assert len({choose_sample(random.Random(k), 0.0, wrong, adm) for k in range(40)}) > 1  # uniform
    # a thought between invalid actions does not reset the streak; a sampled or valid action does
    assert invalid_streak(bad[:2] + [Step("think: hm", "OK.", "policy")] + bad[:1]) == 3
    assert invalid_streak(bad[:2] + [Step("go to x", "Nothing happens.", "sampled")]) == 0


class FakeAgent:
    """LLMPlayer's interface with canned replies: the policy says 'look around', ActRe 'because'."""

    max_len, max_new_tokens = 512, 16

    def __init__(self, tok):
        self.tok, self.prompts = tok, []

    def start(self, *a):
        pass

    def seed_for(self, traj):
        pass

    def prompt(self, slot, t):
        return f"POLICY {slot}"

    def may_think(self, traj):
        return True

    def generate(self, prompts, keys=None, allowed=None, may_think=None):
        self.prompts.append(prompts)
        return [" because I must." if p.endswith("reason:") else "go to cabinet 1" for p in prompts]


def test_explore_player_composes_react_steps(tok):
    agent = FakeAgent(tok)
    player = ExplorePlayer(agent, agent, p=1.0)  # every decision sampled
    t = traj(steps=[Step("think: x", "OK.", "policy")])
    player.start(0, None, t, random.Random(0))
    out = player.act({0: t}, {0: ["go to fridge 1"]})
    assert out == {0: ("think: because I must.", "actre")}  # the reason first ...
    t.steps.append(Step("think: because I must.", "OK.", "actre"))
    assert player.act({0: t}, {0: ["go to fridge 1"]}) == {0: ("go to fridge 1", "sampled")}  # ... then the action
    assert len(agent.prompts) == 1  # the pending action needed no generate call
    player = ExplorePlayer(agent, agent, p=0.0)
    player.start(1, None, t, random.Random(0))
    assert player.act({1: t}, {1: ["go to fridge 1"]}) == {1: ("go to cabinet 1", "policy")}


def test_explore_player_asks_the_scripted_actre_without_generating(tok):
    agent = FakeAgent(tok)
    player = ExplorePlayer(agent, ScriptedActRe(), p=1.0)
    t = traj(steps=[Step("think: x", "OK.", "policy")])
    player.start(0, None, t, random.Random(0))
    out = player.act({0: t}, {0: ["go to fridge 1"]})
    assert out == {0: ("think: I need to find a apple. A apple may be in/on fridge 1. I can check it.", "actre")}
    assert agent.prompts == []  # no model call: the script wrote the reason


def test_parse_command_reads_verb_object_and_place():
    assert parse_command("go to cabinet 1") == ("go", "", "cabinet 1")
    assert parse_command("take apple 1 from cabinet 1") == ("take", "apple 1", "cabinet 1")
    assert (
        parse_command("move apple 1 to fridge 1")
        == parse_command("put apple 1 in/on fridge 1")
        == ("move", "apple 1", "fridge 1")
    )
    assert parse_command("heat egg 1 with microwave 1") == ("heat", "egg 1", "microwave 1")
    assert parse_command("open drawer 1") == ("open", "", "drawer 1")
    assert parse_command("look") == ("look", "", "")


def test_scripted_actre_reads_the_history():
    steps = [
        Step("go to cabinet 1", "You arrive at cabinet 1. On the cabinet 1, you see a apple 1, and a cd 1.", "policy"),
        Step("go to countertop 1", "You arrive at countertop 1. On the countertop 1, you see nothing.", "policy"),
    ]
    t = traj(steps=steps)
    assert scripted_reason(t, "go to cabinet 1") == "I remember seeing apple 1 in/on cabinet 1. I will go back there."
    assert scripted_reason(t, "go to fridge 1") == "I need to find a apple. A apple may be in/on fridge 1. I can check it."
    assert scripted_reason(t, "go to drawer 1") == "The apple is not in the places I checked. I will look at drawer 1."
    assert scripted_reason(t, "open drawer 1") == "The drawer 1 is closed. I will open it and look inside."
    t.steps.append(Step("go to cabinet 1", "You arrive at cabinet 1. On the cabinet 1, you see a apple 1, and a cd 1.", "policy"))
    assert scripted_reason(t, "take apple 1 from cabinet 1") == "Now I find a apple: apple 1. Next, I need to take it."
    assert scripted_reason(t, "take cd 1 from cabinet 1") == "I will take the cd 1 to see if it helps with the task."
    t.steps.append(Step("take apple 1 from cabinet 1", "You pick up the apple 1 from the cabinet 1.", "policy"))
    assert scripted_reason(t, "go to fridge 1") == "Now I take the apple 1. Next, I need to put it in/on fridge 1."
    assert scripted_reason(t, "go to cabinet 1").startswith("The apple is not in the places I checked")  # taken: gone
    t.steps.append(Step("take cd 1 from cabinet 1", "Nothing happens.", "policy"))  # an invalid step changes nothing
    assert scripted_reason(t, "go to fridge 1") == "Now I take the apple 1. Next, I need to put it in/on fridge 1."


def test_filter_keeps_successes_and_contrastable_failures():
    rollouts = [traj("a", won=False, origin="rollout"), traj("b", won=False, origin="rollout"), traj("c", origin="rollout")]
    explored = [traj("a", won=True), traj("a", won=False), traj("b", won=False)]
    kept = select(rollouts, explored)
    expected = [("c", True, "rollout"), ("a", True, "explore"), ("a", False, "rollout")]
    assert [(t.task_id, t.won, t.origin) for t in kept] == expected
    kept = select(rollouts, explored, wins_before=[traj("b")])  # b was solved in an earlier round: its failure contrasts
    assert ("b", False, "rollout") in [(t.task_id, t.won, t.origin) for t in kept]
    # K = 2: a failure needs two distinct successes of its task; a duplicate counts once
    assert ("a", False, "rollout") not in [(t.task_id, t.won, t.origin) for t in select(rollouts, explored, min_successes=2)]
    again = traj("a", won=True, origin="rollout")  # the same content as a's explored success
    kept = select(rollouts, explored, wins_before=[again], min_successes=2)
    assert ("a", False, "rollout") not in [(t.task_id, t.won, t.origin) for t in kept]
    other = traj("a", won=True, steps=[Step("go to fridge 1", "You arrive at fridge 1.")])
    kept = select(rollouts, explored, wins_before=[other], min_successes=2)
    assert ("a", False, "rollout") in [(t.task_id, t.won, t.origin) for t in kept]


def test_accumulate_removes_duplicates_keeping_order():
    a, b, c = traj("a"), traj("b", won=False), traj("a")  # c duplicates a
    assert accumulate([a], [b, c]) == [a, b]
    assert accumulate([], []) == []
