"""Threads per worker: this machine's cores divided among the workers of the same model.

The cores: FASHION_CPUS when set (Kubernetes passes the pod's CPU request through the Downward API), else
the CPUs this process may run on, capped by a cgroup CPU quota (a container's CPU limit); never the host's
count inside a limited container. Each TorchServe worker is its own process with its own thread pools
(torch/OpenMP, ONNX Runtime, OpenVINO), and takes `cores // workers` threads (at least 1), where `workers`
is how many workers its model or workflow node has: FASHION_NODE_WORKERS for a workflow node (the launcher
reads it from the .war), FASHION_MODEL_WORKERS for a model served alone (config.properties'
default_workers_per_model). Workers of one model run the same stage at the same time, so they split the
cores; FASHION_TORCH_THREADS overrides it all.

Different nodes of the chain are not divided: their work is uneven (the embedder is ~90 % of it), so an even
split starves the embedder. Measured on 2 cores (BENCHMARKS.md): workflow at 8 clients 3.41 img/s with the
cores split over the three nodes vs 5.34 img/s with each node allowed all cores. Idle pools sleep instead
of spinning (the launcher sets OMP_WAIT_POLICY=PASSIVE; ONNX Runtime's spinning is off), so the nodes
take the cores in turn. Serving the workflow and the ensemble under full load at the same time makes them
compete: set FASHION_TORCH_THREADS then (README, "Performance").
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Mapping

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def cgroup_cpus(path: Path = CGROUP_CPU_MAX) -> int | None:
    """The CPU limit of this cgroup (v2 `cpu.max`: "<quota> <period>" or "max ..."), rounded up; None: no limit."""
    try:
        quota, period = path.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    return None if quota == "max" else max(1, math.ceil(int(quota) / int(period)))


def available_cores(env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    if env.get("FASHION_CPUS"):
        return max(1, math.floor(float(env["FASHION_CPUS"])))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpus()
    return min(cores, limit) if limit else cores


def threads_per_worker(cores: int, workers: int) -> int:
    return max(1, cores // max(1, workers))


def worker_threads(in_workflow: bool, env: Mapping[str, str] | None = None, cores: int | None = None) -> int:
    env = os.environ if env is None else env
    if env.get("FASHION_TORCH_THREADS"):
        return max(1, int(env["FASHION_TORCH_THREADS"]))
    workers = env.get("FASHION_NODE_WORKERS" if in_workflow else "FASHION_MODEL_WORKERS") or "1"
    return threads_per_worker(cores or available_cores(env), int(workers))


def describe(env: Mapping[str, str] | None = None, cores: int | None = None) -> str:
    env = os.environ if env is None else env
    cores = cores or available_cores(env)
    return (f"{cores} cores; a workflow node's worker {worker_threads(True, env, cores)} threads, a model's "
            f"{worker_threads(False, env, cores)} (FASHION_NODE_WORKERS={env.get('FASHION_NODE_WORKERS', 'unset')}, "
            f"FASHION_TORCH_THREADS={env.get('FASHION_TORCH_THREADS', 'unset')}), "
            f"OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', 'PASSIVE')}")
