"""Many ALFWorld episodes stepped together by worker processes.

Slot ``i`` lives in worker ``i % workers``; each slot keeps its loaded games (a reset of a game it
played before skips the load). ``workers=0`` runs every slot in this process (tests, debugging).
Workers ignore Ctrl-C: the parent handles it and shuts them down; a worker error is re-raised here.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import sys
import traceback
from collections import defaultdict
from contextlib import contextmanager

from a3t.envs.env import GameEnv, StepResult


@contextmanager
def _main_not_rerun():
    """A spawned child first re-runs the parent's ``__main__`` module: for a stage, its imports of torch,
    transformers and peft, ~10 s per worker before its first step, none of which a worker uses. The
    child is told of no main module while it is started; it imports only what ``_serve`` needs."""
    main = sys.modules["__main__"]
    saved = {k: main.__dict__[k] for k in ("__spec__", "__file__") if k in main.__dict__}
    main.__spec__ = None
    main.__dict__.pop("__file__", None)
    try:
        yield
    finally:
        main.__dict__.update(saved)


def _serve(conn, step_limit: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    envs: dict[int, GameEnv] = defaultdict(lambda: GameEnv(step_limit))
    while True:
        try:
            msg = conn.recv()
        except EOFError:
            break
        if msg is None:
            break
        kind, payload = msg
        try:
            if kind == "reset":
                out = {slot: envs[slot].reset(path, goal) for slot, (path, goal) in payload.items()}
            else:
                out = {slot: envs[slot].step(action) for slot, action in payload.items()}
            conn.send(("ok", out))
        except Exception:  # noqa: BLE001 - sent to the parent, which raises it
            conn.send(("error", traceback.format_exc()))
    for env in envs.values():
        env.close()
    conn.close()


class BatchEnv:
    def __init__(self, workers: int = 2, step_limit: int = 50):
        if step_limit < 1:
            raise ValueError(f"step_limit must be >= 1, got {step_limit}")
        self.step_limit = step_limit
        self.workers = workers
        self._local: dict[int, GameEnv] = defaultdict(lambda: GameEnv(step_limit))
        self._conns, self._procs = [], []
        ctx = mp.get_context("spawn")  # never fork a parent that may hold torch threads
        for _ in range(workers):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, step_limit), daemon=True)
            with _main_not_rerun():
                proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def _call(self, kind: str, payload: dict) -> dict:
        if not self.workers:
            if kind == "reset":
                return {s: self._local[s].reset(path, goal) for s, (path, goal) in payload.items()}
            return {s: self._local[s].step(a) for s, a in payload.items()}
        parts: dict[int, dict] = defaultdict(dict)
        for slot, value in payload.items():
            parts[slot % self.workers][slot] = value
        for w, part in parts.items():
            self._conns[w].send((kind, part))
        out = {}
        for w in parts:
            status, result = self._conns[w].recv()
            if status != "ok":
                self.close()
                raise RuntimeError(f"environment worker {w} failed:\n{result}")
            out.update(result)
        return out

    def reset(self, games: dict[int, tuple[str, str | None]]) -> dict[int, StepResult]:
        """Start an episode in each slot: ``{slot: (game_file, goal)}``."""
        return self._call("reset", games)

    def step(self, actions: dict[int, str]) -> dict[int, StepResult]:
        """Advance each named slot by one action: ``{slot: action}``."""
        return self._call("step", actions)

    def close(self) -> None:
        for conn in self._conns:
            try:
                conn.send(None)
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in self._conns:
            conn.close()
        self._conns, self._procs = [], []
        for env in self._local.values():
            env.close()
        self._local.clear()

    def __enter__(self) -> BatchEnv:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if self._procs:
            self.close()
