"""Threads per worker: this machine's cores divided among the workers of the same model.

The cores: FASHION_CPUS when set (Kubernetes passes the pod's CPU request through the Downward API), else
the CPUs this process may run on, capped by a cgroup CPU quota (a container's CPU limit); never the host's
count inside a limited container. Each TorchServe worker is its own process with its own thread pools
(torch/OpenMP, ONNX Runtime, OpenVINO):
- a model served alone (the ensemble, a per-model endpoint): `cores // workers`, its workers
  (FASHION_MODEL_WORKERS: config.properties' default_workers_per_model) splitting the cores;
- a workflow node: the same, `cores // workers` with its worker count (FASHION_NODE_WORKERS, read by the
  launcher from the .war): every node may use every core. Idle pools sleep (below), so a node waiting for its
  parent costs nothing, and the node that has work uses all the cores. Measured side by side on 2 cores with
  the catalogue-trained embedder (BENCHMARKS.md): 2/2/2 threads 149 ms at 1 client and 9.42 img/s at 8,
  against 215 ms and 6.88 img/s when the cores were split by each node's share of the work (1/1/1), and an
  even split of the cores lost to the share split with ViT-B-32 (3.42 vs 5.19 img/s).
At least 1 thread each; FASHION_TORCH_THREADS overrides it all. Idle pools sleep instead of spinning (the
launcher sets OMP_WAIT_POLICY=PASSIVE for TorchServe, importing `fashion` sets it for an in-process pipeline
unless set, `wait_policy_applies`; ONNX Runtime's spinning is off). Serving the workflow and the ensemble
under full load at the same time makes them compete: set FASHION_TORCH_THREADS then (docs/performance.md,
"Threads per worker").
numpy's BLAS (OpenBLAS) and OpenCV run on one thread each (`quiet_pools`): BLAS's only work here is small
products (the embedder's projection, colour distances), and after each one its idle threads spin for milliseconds
on the cores the next model's forward needs (measured in process on 2 cores: the segmenter's forward 29 -> 19 ms a
photo, BENCHMARKS.md); OpenCV's k-means and colour conversions already run one garment per helper thread (`pool`),
and its own pool on top of them made more threads than cores (0.97x the pipeline's time without it). Neither
changes an answer: both split work per pixel or per product row.
"""
from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor
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


def wait_policy_applies() -> bool:
    """Whether OpenMP's wait policy (fashion/__init__: PASSIVE unless set) was in the environment when torch loaded
    OpenMP; False when torch was imported before the first `fashion` module and OMP_WAIT_POLICY was unset."""
    import fashion

    return fashion.WAIT_POLICY_IN_TIME


def quiet_pools() -> None:
    """numpy's BLAS libraries (every one loaded, threadpoolctl) and OpenCV limited to one thread, process-wide."""
    import cv2
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    cv2.setNumThreads(1)


@functools.lru_cache(maxsize=4)
def pool(threads: int) -> ThreadPoolExecutor:
    """The process's helper threads for work that releases the GIL (OpenCV's k-means, dlib's face detector):
    `threads` of them, made once."""
    return ThreadPoolExecutor(threads, thread_name_prefix="fashion-work")


def threads_per_worker(cores: int, workers: int) -> int:
    return max(1, cores // max(1, workers))


def worker_threads(in_workflow: bool, env: Mapping[str, str] | None = None, cores: int | None = None) -> int:
    env = os.environ if env is None else env
    if env.get("FASHION_TORCH_THREADS"):
        return max(1, int(env["FASHION_TORCH_THREADS"]))
    workers = int(env.get("FASHION_NODE_WORKERS" if in_workflow else "FASHION_MODEL_WORKERS") or "1")
    return threads_per_worker(cores or available_cores(env), workers)


def describe(env: Mapping[str, str] | None = None, cores: int | None = None) -> str:
    env = os.environ if env is None else env
    cores = cores or available_cores(env)
    return (f"{cores} cores; workflow nodes' workers: {worker_threads(True, env, cores)} threads; a model's "
            f"{worker_threads(False, env, cores)} (FASHION_NODE_WORKERS={env.get('FASHION_NODE_WORKERS', 'unset')}, "
            f"FASHION_TORCH_THREADS={env.get('FASHION_TORCH_THREADS', 'unset')}), "
            f"OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY', 'PASSIVE')}")
