"""Threads per worker: the cores divided among a model's (or node's) workers, never below one."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from fashion.threads import available_cores, cgroup_cpus, threads_per_worker, worker_threads
from launcher.torchserve import node_workers


@pytest.mark.parametrize("cores, workers, want", [(2, 3, 1), (16, 2, 8), (16, 1, 16), (1, 4, 1), (8, 0, 8)])
def test_threads_per_worker(cores, workers, want):
    assert threads_per_worker(cores, workers) == want


def test_workers_of_one_model_split_the_cores():
    env = {"FASHION_NODE_WORKERS": "2", "FASHION_MODEL_WORKERS": "4"}
    assert worker_threads(True, env, cores=16) == 8
    assert worker_threads(False, env, cores=16) == 4
    assert worker_threads(True, {}, cores=16) == 16  # one worker per node: every core (nodes take turns)


def test_explicit_threads_win():
    env = {"FASHION_TORCH_THREADS": "3", "FASHION_NODE_WORKERS": "2"}
    assert worker_threads(True, env, cores=16) == 3
    assert worker_threads(False, env, cores=16) == 3


def test_node_workers_from_the_war(tmp_path):
    spec = {"models": {"min-workers": 1, "max-workers": 2, "batch-size": 4,
                       "a": {"url": "a.mar"}, "b": {"url": "b.mar", "min-workers": 2}},
            "dag": {"a": ["b"]}}
    war = tmp_path / "w.war"
    with zipfile.ZipFile(war, "w") as z:
        z.writestr("w.yaml", yaml.safe_dump(spec))
    assert node_workers(war) == 2
    assert node_workers(tmp_path / "missing.war") == 1


@pytest.mark.parametrize("text, want", [("max 100000", None), ("200000 100000", 2), ("150000 100000", 2),
                                        ("50000 100000", 1)])
def test_cgroup_cpu_limit(tmp_path, text, want):
    (tmp_path / "cpu.max").write_text(text + "\n")
    assert cgroup_cpus(tmp_path / "cpu.max") == want
    assert cgroup_cpus(tmp_path / "absent") is None


def test_cores_from_the_pod_request_win_over_the_host():
    assert available_cores({"FASHION_CPUS": "4"}) == 4
    assert worker_threads(True, {"FASHION_CPUS": "4", "FASHION_NODE_WORKERS": "2"}) == 2
    assert available_cores({}) >= 1


@pytest.mark.parametrize("cores, workers, want", [(2, 1, 2), (16, 1, 16), (16, 2, 8), (3, 2, 1)])
def test_workflow_nodes_take_the_cores_like_a_model(cores, workers, want):
    assert worker_threads(True, {"FASHION_NODE_WORKERS": str(workers)}, cores=cores) == want
    assert worker_threads(True, {"FASHION_TORCH_THREADS": "4"}, cores=cores) == 4


def _fresh_python(code: str, **env: str) -> str:
    """`code` run in a new interpreter (OpenMP's wait policy is read once, when torch loads): its stdout."""
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                          check=True, cwd=Path(__file__).resolve().parents[2])
    return done.stdout.strip()


def test_importing_fashion_first_makes_idle_openmp_threads_sleep():
    code = "import fashion, os, torch; print(os.environ['OMP_WAIT_POLICY'], fashion.WAIT_POLICY_IN_TIME)"
    assert _fresh_python(code) == "PASSIVE True"


def test_a_wait_policy_the_user_set_is_kept():
    code = "import fashion, os; print(os.environ['OMP_WAIT_POLICY'], fashion.USER_WAIT_POLICY)"
    assert _fresh_python(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE ACTIVE"


def test_torch_loaded_first_is_reported():
    code = "import torch, fashion.threads as t; print(t.wait_policy_applies())"
    assert _fresh_python(code) == "False"
