"""python -m bench.ab_pipeline CODE_A CODE_B: is one code version's in-process pipeline faster than another's?

On a shared machine whose speed drifts by 2x over minutes, two runs minutes apart compare the machine, not the
code. This loads the pipeline of each checkout (CODE_A, CODE_B: folders holding `fashion/`, e.g. a `git worktree`
of the commit before) in its own process, on the same exports, and has them take turns: a few calls on one, a
few on the other, the order swapped every round, so the drift falls on both alike. Each call is the whole
in-process pipeline on one photo (decode .. response); both are told the same photo. `--env-b K=V` sets an
environment variable in B only (the same code with a setting changed). Prints wall and CPU ms (medians) per
version, B over A, and B over A per round (how steady the ratio is).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import fashion

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "../shared/data/street_photos/photos/0005.jpg"

# What each side runs: the checkout's own pipeline, then "<calls>" lines on stdin -> one JSON line of timings.
CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
from fashion.pipeline import Pipeline  # fashion before torch, as a user's process imports it
import torch
pipe = Pipeline.load(sys.argv[1], torch.device("cpu"))
body = open(sys.argv[2], "rb").read()
for _ in range(3):
    pipe([{"body": body}])
print("ready", flush=True)
for line in sys.stdin:
    wall, cpu = [], []
    for _ in range(int(line)):
        start, used = time.perf_counter(), time.process_time()
        payload, status = pipe([{"body": body}])[0]
        wall.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - used) * 1000)
        assert status == 200, payload
    print(json.dumps({"wall": wall, "cpu": cpu}), flush=True)
"""


def start(code: Path, models: Path, photo: Path, env: dict[str, str]) -> subprocess.Popen:
    inherited = dict(os.environ)
    if fashion.USER_WAIT_POLICY is None:  # each checkout's own code decides (fashion/__init__), not ours
        inherited.pop("OMP_WAIT_POLICY", None)
    child_env = {**inherited, **env, "PYTHONPATH": str(code.resolve())}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(models.resolve()), str(photo.resolve())],
                            cwd=code, env=child_env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    if proc.stdout.readline().strip() != "ready":
        raise RuntimeError(f"the pipeline of {code} did not start")
    return proc


def ask(proc: subprocess.Popen, calls: int) -> dict[str, list[float]]:
    proc.stdin.write(f"{calls}\n")
    proc.stdin.flush()
    return json.loads(proc.stdout.readline())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ab_pipeline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("a", type=Path, help="checkout A (holds fashion/)")
    p.add_argument("b", type=Path, help="checkout B")
    p.add_argument("--models", type=Path, default=ROOT / "build/export", help="the export folder both load")
    p.add_argument("--photo", type=Path, default=PHOTO, help="the photo (bench's benchmark photo by default)")
    p.add_argument("--rounds", type=int, default=12)
    p.add_argument("--calls", type=int, default=5, help="calls per side per round")
    p.add_argument("--env-b", action="append", default=[], metavar="K=V", help="an environment variable for B")
    args = p.parse_args(argv)
    env_b = dict(kv.split("=", 1) for kv in args.env_b)
    sides = {"A": start(args.a, args.models, args.photo, {}), "B": start(args.b, args.models, args.photo, env_b)}
    times: dict[str, dict[str, list[float]]] = {s: {"wall": [], "cpu": []} for s in sides}
    per_round = []
    try:
        for n in range(args.rounds):
            medians = {}
            for side in (("A", "B") if n % 2 == 0 else ("B", "A")):
                got = ask(sides[side], args.calls)
                for k in ("wall", "cpu"):
                    times[side][k].extend(got[k])
                medians[side] = statistics.median(got["wall"])
            per_round.append(medians["B"] / medians["A"])
    finally:
        for proc in sides.values():
            proc.stdin.close()
            proc.wait(timeout=60)
    print(f"A {args.a}, B {args.b}{' with ' + ' '.join(args.env_b) if args.env_b else ''}; {args.photo.name}, "
          f"{args.rounds} rounds x {args.calls} calls each, taking turns")
    print("| | A ms | B ms | B / A |")
    print("|---|---:|---:|---:|")
    for k in ("wall", "cpu"):
        a, b = statistics.median(times["A"][k]), statistics.median(times["B"][k])
        print(f"| {k} (median) | {a:.1f} | {b:.1f} | {b / a:.3f} |")
    print(f"B / A per round (wall medians): {', '.join(f'{r:.2f}' for r in per_round)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
