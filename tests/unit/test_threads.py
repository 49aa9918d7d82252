"""Threads per worker: the cores shared among the workers that compute at once, never below one."""
from __future__ import annotations

import zipfile

import pytest
import yaml

from fashion.threads import threads_per_worker, worker_threads
from launcher.torchserve import workflow_workers


@pytest.mark.parametrize("cores, busy, want", [(2, 3, 1), (16, 3, 5), (16, 1, 16), (1, 4, 1), (8, 0, 8)])
def test_threads_per_worker(cores, busy, want):
    assert threads_per_worker(cores, busy) == want


def test_workflow_nodes_share_the_cores_and_models_alone_take_their_share():
    env = {"FASHION_PIPELINE_WORKERS": "3", "FASHION_MODEL_WORKERS": "2"}
    assert worker_threads(True, env, cores=16) == 5
    assert worker_threads(False, env, cores=16) == 8
    assert worker_threads(False, {}, cores=16) == 16  # a worker on its own: every core


def test_explicit_threads_win():
    env = {"FASHION_TORCH_THREADS": "3", "FASHION_PIPELINE_WORKERS": "3"}
    assert worker_threads(True, env, cores=16) == 3
    assert worker_threads(False, env, cores=16) == 3


def test_workflow_workers_counts_nodes_times_workers_from_the_war(tmp_path):
    spec = {"models": {"min-workers": 2, "max-workers": 2, "batch-size": 4,
                       "a": {"url": "a.mar"}, "b": {"url": "b.mar", "min-workers": 1}},
            "dag": {"a": ["b"]}}
    war = tmp_path / "w.war"
    with zipfile.ZipFile(war, "w") as z:
        z.writestr("w.yaml", yaml.safe_dump(spec))
    assert workflow_workers(war) == 3
    assert workflow_workers(tmp_path / "missing.war") == 3  # the shipped chain's count


@pytest.mark.parametrize("text, want", [("max 100000", None), ("200000 100000", 2), ("150000 100000", 2),
                                        ("50000 100000", 1)])
def test_cgroup_cpu_limit(tmp_path, text, want):
    from fashion.threads import cgroup_cpus

    (tmp_path / "cpu.max").write_text(text + "\n")
    assert cgroup_cpus(tmp_path / "cpu.max") == want
    assert cgroup_cpus(tmp_path / "absent") is None


def test_cores_from_the_pod_request_win_over_the_host():
    from fashion.threads import available_cores

    assert available_cores({"FASHION_CPUS": "4"}) == 4
    assert worker_threads(True, {"FASHION_CPUS": "4", "FASHION_PIPELINE_WORKERS": "3"}) == 1
    assert available_cores({}) >= 1
