"""Threads per worker: this machine's cores shared among the workers that compute at the same time.

The cores: FASHION_CPUS when set (Kubernetes passes the pod's CPU request through the Downward API), else
the CPUs this process may run on, capped by a cgroup CPU quota (a container's CPU limit); never the host's
count inside a limited container. Each TorchServe worker is its own process with its own thread pools (torch/OpenMP, ONNX Runtime, OpenVINO).
A worker takes `cores // busy` threads, at least 1, where `busy` counts the workers that compute at once:
- a workflow node: FASHION_PIPELINE_WORKERS, because under load every node of the chain works at the same
  time on different requests (the launcher sets it from the .war: nodes x workers per node);
- a model served alone (the ensemble, a per-model endpoint): FASHION_MODEL_WORKERS (the launcher sets it to
  config.properties' default_workers_per_model).
FASHION_TORCH_THREADS overrides both. The launcher also sets OMP_WAIT_POLICY=PASSIVE so that idle pools sleep
instead of spinning on cores another worker needs. Serving the workflow and the ensemble under full load at
the same time oversubscribes the cores: size workers for the endpoint you use (README, "Performance").
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


def threads_per_worker(cores: int, busy: int) -> int:
    return max(1, cores // max(1, busy))


def worker_threads(in_workflow: bool, env: Mapping[str, str] | None = None, cores: int | None = None) -> int:
    env = os.environ if env is None else env
    if env.get("FASHION_TORCH_THREADS"):
        return max(1, int(env["FASHION_TORCH_THREADS"]))
    busy = env.get("FASHION_PIPELINE_WORKERS" if in_workflow else "FASHION_MODEL_WORKERS") or "1"
    return threads_per_worker(cores or available_cores(env), int(busy))


def describe(env: Mapping[str, str] | None = None, cores: int | None = None) -> str:
    env = os.environ if env is None else env
    cores = cores or available_cores(env)
    return (f"{cores} cores; workflow node {worker_threads(True, env, cores)} threads, model alone "
            f"{worker_threads(False, env, cores)} threads (FASHION_PIPELINE_WORKERS="
            f"{env.get('FASHION_PIPELINE_WORKERS', 'unset')}, FASHION_TORCH_THREADS="
            f"{env.get('FASHION_TORCH_THREADS', 'unset')}), OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', 'PASSIVE')}")
