"""OpenMP wait policy benchmark: torch processes sharing the cores, with idle threads spinning vs sleeping.

    python benchmarks/omp_bench.py [--procs 2] [--threads 2] [--iters 3000]

Each process runs the same small MLP forward passes (batch 8, width 256: the scale of the embedded model's
layers) on ``--threads`` torch threads; ``--procs`` of them start together, first with the OpenMP
runtime's default wait policy (idle threads spin for a while before they sleep), then with
``OMP_WAIT_POLICY=PASSIVE`` (they sleep at once), as the workflow sets for its jobs (rules/common.smk)
and the tests for theirs (tests/conftest.py). The last line is the speedup of PASSIVE (the slowest
process's seconds with the default / with PASSIVE).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

WORK = """
import sys, time, torch
torch.set_num_threads(int(sys.argv[1]))
torch.manual_seed(0)
mlp = torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.GELU(), torch.nn.Linear(512, 256))
x = torch.randn(8, 256)
start = time.perf_counter()
with torch.no_grad():
    for _ in range(int(sys.argv[2])):
        mlp(x)
print(time.perf_counter() - start)
"""


def slowest(procs: int, threads: int, iters: int, policy: str | None) -> float:
    """Seconds of the slowest of ``procs`` processes started together under the OpenMP ``policy`` (None: default)."""
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    cmd = [sys.executable, "-c", WORK, str(threads), str(iters)]
    running = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(procs)]
    return max(float(p.communicate()[0]) for p in running)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--procs", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=3000)
    args = p.parse_args()
    default = slowest(args.procs, args.threads, args.iters, None)
    passive = slowest(args.procs, args.threads, args.iters, "PASSIVE")
    alone = slowest(1, args.threads, args.iters, None)
    print(f"{os.cpu_count()} cores, {args.procs} processes x {args.threads} threads, {args.iters} forward passes each")
    print(f"one process alone (default policy): {alone:.2f} s")
    print(f"default policy (spin, then sleep): {default:.2f} s; OMP_WAIT_POLICY=PASSIVE: {passive:.2f} s")
    print(f"PASSIVE speedup: {default / passive:.2f}x")


if __name__ == "__main__":
    main()
