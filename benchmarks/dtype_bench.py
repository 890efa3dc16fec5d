"""float32 against bfloat16 on this CPU, natively and under the AVX2 emulation that .ci/run uses.

    python benchmarks/dtype_bench.py [--threads 2] [--seconds 2]

Each arm runs in its own process (the emulation is environment variables read at torch's start:
``ATEN_CPU_CAPABILITY=avx2 ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2``: torch's, oneDNN's and MKL's
kernels capped at AVX2): a 1024x576 @ 576x1536 matmul (SmolLM2's MLP shape) in
GFLOPS, and a forward pass of a randomly initialised SmolLM2-shaped model (30 layers, width 576, 16 rows x 64
tokens) in tokens/s, each in float32 and bfloat16, and what ``model.compute_dtype: auto`` picks there. The
measured AVX2 machine (a first-generation EPYC, 2 threads, torch 2.13): matmul 24.0 GFLOPS float32, 0.8 bfloat16;
forward 70-123 tokens/s float32, 20 bfloat16. The last line is the emulation's bfloat16 slowdown against that
machine's (about 30x on the matmul): an emulation that reproduces the slow machine shows tens of times too.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

from a3t.hardware import AVX2_EMULATION

WORK = """
import json, sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
from a3t.hardware import choose
threads, seconds = int(sys.argv[1]), float(sys.argv[2])
torch.set_num_threads(threads)
torch.manual_seed(0)

def timed(fn, seconds):
    fn()
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or reps < 2:
        fn()
        reps += 1
    return reps / (time.perf_counter() - start)

config = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                     num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048, tie_word_embeddings=True)
model = LlamaForCausalLM(config).eval()
ids = torch.randint(0, 49152, (16, 64))
out = {"capability": torch.backends.cpu.get_cpu_capability(), "auto": choose("auto").line}
for name, dtype in (("float32", torch.float32), ("bfloat16", torch.bfloat16)):
    a, b = torch.randn(1024, 576).to(dtype), torch.randn(576, 1536).to(dtype)
    out[f"matmul {name} GFLOPS"] = 2 * 1024 * 576 * 1536 * timed(lambda: a @ b, seconds) / 1e9
    model.to(dtype)
    with torch.no_grad():
        out[f"forward {name} tokens/s"] = ids.numel() * timed(lambda: model(ids), seconds)
print(json.dumps(out))
"""


def arm(threads: int, seconds: float, extra: dict[str, str]) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in AVX2_EMULATION} | extra
    proc = subprocess.run([sys.executable, "-c", WORK, str(threads), str(seconds)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=2.0, help="time each measurement at least this long")
    args = p.parse_args()
    rows = {"native": arm(args.threads, args.seconds, {}), "emulated AVX2": arm(args.threads, args.seconds, AVX2_EMULATION)}
    for name, r in rows.items():
        print(
            f"{name:14s} capability {r['capability']:7s} matmul float32 {r['matmul float32 GFLOPS']:6.1f} bfloat16 "
            f"{r['matmul bfloat16 GFLOPS']:6.1f} GFLOPS; forward float32 {r['forward float32 tokens/s']:6.0f} bfloat16 "
            f"{r['forward bfloat16 tokens/s']:6.0f} tokens/s; auto: {r['auto']}"
        )
    emu, native = rows["emulated AVX2"], rows["native"]
    print(f"native float32 / emulated float32 (matmul): {native['matmul float32 GFLOPS'] / emu['matmul float32 GFLOPS']:.2f}x")
    print(f"native float32 / the measured AVX2 EPYC's 24.0 GFLOPS (matmul): {native['matmul float32 GFLOPS'] / 24.0:.1f}x")
    ratio = emu["matmul float32 GFLOPS"] / emu["matmul bfloat16 GFLOPS"]
    print(f"emulated AVX2: bfloat16 matmuls {ratio:.0f}x slower than float32 (the AVX2 EPYC: 30x)")


if __name__ == "__main__":
    main()
