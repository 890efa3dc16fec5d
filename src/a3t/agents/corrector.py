"""The scripted teacher's next step after any history: the labels of DAgger.

:func:`a3t.agents.teacher.teacher` plays its own episodes; :func:`teacher_step` says what the teacher
would do next in a state another player reached, from the history alone (the task, what the game
has shown, what was done), as a reader of the transcript could: never from the hidden game state.
It uses the teacher's plan and words: on the teacher's own histories it says exactly what the teacher
said (a test plays whole episodes with it), and after a learner's detours it takes up the plan where
the history leaves it (an object seen on the way is remembered, an object taken by mistake is put
back, a search resumes at the first place not yet looked at).
"""

from __future__ import annotations

import re

from a3t.agents.scripted_actre import read_history
from a3t.agents.teacher import LAMP_PLACES, PLAN_PLACES, VERB, _holders_of, _in_room, _kind, _listing, parse_goal, receptacles_in
from a3t.envs.generate import TOOL
from a3t.trajectory import Trajectory

_PLAN = re.compile(r"^think: (?:First I need to find a (\w+)\. A \w+ is more likely to appear in|The (\w+) is not in those "
                   r"places\. Next I can check) (.*?)\.(?: I can check one by one\.)?$")  # fmt: skip


def teacher_step(traj: Trajectory) -> str | None:
    """The teacher's next thought or command after ``traj``'s steps; None where the teacher gives up (it
    has looked everywhere its plan names)."""
    g = parse_goal(traj.task_type, traj.goal)
    obj, recep, toggle = g.get("obj", ""), g.get("recep", ""), g.get("toggle", "")
    rooms = receptacles_in(traj.initial_observation)
    tool_type = TOOL.get(traj.task_type, ("",))[0]
    verb = VERB.get(tool_type, "")
    tool = next(iter(_in_room(rooms, {tool_type.lower()})), "")
    target = next(iter(_in_room(rooms, {recep})), "") if recep else ""
    two = traj.task_type == "pick_two_obj_and_place"
    steps = traj.steps
    thoughts = [(i, s.action) for i, s in enumerate(steps) if s.is_thought]
    last_thought = thoughts[-1][1] if thoughts else ""
    r = read_history(steps, obj, target)

    def said_since(text: str, index: int) -> bool:
        return any(t == text for i, t in thoughts if i > index)

    plan = f"find and take {'two' if two else 'a'} {obj}"
    if verb:
        plan += f", then {verb} it with {tool}"
    plan += f", then find and use a {toggle}" if toggle else f", then put it in/on a {recep}"
    opening = f"think: To solve the task, I need to {plan}."
    if not said_since(opening, -1):
        return opening
    if r.closed_here:
        return f"open {r.here}"

    def announced_move(where: str, thought: str, since: int, then: str) -> str:
        """The thought that announces going to ``where`` (once, after step ``since``), the move, then ``then``."""
        if not said_since(thought, since):
            return thought
        return then if r.here == where else f"go to {where}"

    def find(thing: str, kinds: set[str], skip: set[str], intro: str = "", since: int = -1) -> str | None:
        """The next step of looking for ``thing`` (after ``intro``, said once), up to taking or using it."""
        if intro and not said_since(intro, since):
            return intro

        def act(item: str) -> str:
            return f"use {item}" if thing == toggle else f"take {item} from {r.here}"

        here_hits = [i for i in r.seen.get(r.here, []) if _kind(i) == thing and i not in skip]
        if here_hits and last_thought == f"think: Now I find a {thing}: {here_hits[0]}. Next, I need to take it.":
            return act(here_hits[0])
        remembered = [(w, i) for w, items in r.seen.items() for i in items if _kind(i) == thing and i not in skip]
        for where, item in remembered:  # going back to what was seen, as announced
            if last_thought == f"think: I remember seeing {item} in/on {where}. I will go back there.":
                return act(item) if r.here == where else f"go to {where}"
        m = _PLAN.match(last_thought)
        searching = bool(m) and (m[1] or m[2]) == thing
        if searching and here_hits:
            return f"think: Now I find a {thing}: {here_hits[0]}. Next, I need to take it."
        if remembered:
            where, item = remembered[0]
            return f"think: I remember seeing {item} in/on {where}. I will go back there."
        places = [p for p in _in_room(rooms, kinds) if p not in r.seen]
        if not places:
            return None
        if searching:
            listed = [p for p in re.split(r", and |, | and ", m[3]) if p in places]
            if listed:
                return f"go to {listed[0]}"
            return f"think: The {thing} is not in those places. Next I can check {_listing(places[:PLAN_PLACES])}."
        return (
            f"think: First I need to find a {thing}. A {thing} is more likely to appear in {_listing(places[:PLAN_PLACES])}. "
            "I can check one by one."
        )

    if r.holding:
        item = r.holding
        if _kind(item) != obj:
            return f"move {item} to {r.here}"  # taken by mistake: put back where it was taken
        if verb and item not in r.done:
            thought = f"think: Now I take the {item}. Next, I need to go to {tool} and {verb} it."
            return announced_move(tool, thought, r.took_at, f"{verb} {item} with {tool}")
        if toggle:
            return find(toggle, LAMP_PLACES, set(), f"think: Now I take the {item}. Next, I need to find a {toggle}.", r.took_at)
        if not target:
            return None
        thought = f"think: Now I {verb + 'ed' if verb else 'take'} the {item}. Next, I need to put it in/on {target}."
        return announced_move(target, thought, max(r.took_at, r.treated_at), f"move {item} to {target}")
    placed = set(r.placed)
    intro = ""
    if two and len(placed) == 1:
        intro = f"think: Now I put the first {obj} in {target}. Next, I need to find the second {obj}."
    return find(obj, _holders_of(obj), placed, intro, r.placed_at)


class Corrector:
    """The history teacher as a player (every step :func:`teacher_step`): on generated games it plays
    the teacher's own episodes, which is how it is tested."""

    source = "teacher"

    def start(self, slot, game, traj, rng) -> None:
        pass

    def act(self, trajs: dict[int, Trajectory], admissible: dict[int, list[str]]) -> dict[int, tuple[str | None, str]]:
        return {slot: (teacher_step(traj), self.source) for slot, traj in trajs.items()}
