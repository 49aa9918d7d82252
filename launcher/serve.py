"""`python -m launcher serve`: TorchServe on loopback behind the front door, in the foreground.

The one start command for `make serve` (which runs it in the background), the Docker image (its CMD, as Vertex AI
and Kubernetes start it) and the e2e fixtures:
1. the archives: the image's (or the repository's) model store, or AIP_STORAGE_URI's (a folder, or gs:// with
   the gcloud CLI), always as an absolute path (TorchServe resolves a relative one against its own directory);
2. TorchServe starts with every API on loopback; the front door (launcher.frontdoor) listens on
   FASHION_PORT / AIP_HTTP_PORT at once, answering 503 on the health route until the models are loaded, the
   workflow is registered and both pipeline endpoints have answered a probe photo;
3. SIGTERM or SIGINT: the front door stops accepting, lets in-flight requests finish (FASHION_DRAIN_S), then
   stops TorchServe (SIGTERM to its process group, SIGKILL after a grace period): no orphan java process.
   If TorchServe dies, the front door exits too, so the container (or pod) restarts.
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import AsyncIterator

import uvicorn

from fashion import models as registry
from fashion.samples import synthetic_jpeg
from launcher import torchserve as ts
from launcher.frontdoor import State, build_app
from launcher.http_server import server_config
from launcher.search_route import SearchService, index_folder
from launcher.settings import FrontDoorSettings

PROBED = (registry.ENSEMBLE_PATH, registry.WORKFLOW_PATH)
TORCHSERVE_GRACE_S = 3.0


def fetch_archives(uri: str, store: Path) -> Path:
    """Copy *.mar and *.war from AIP_STORAGE_URI (a folder, or gs:// via the gcloud CLI) into store."""
    store.mkdir(parents=True, exist_ok=True)
    if uri.startswith("gs://"):
        gcloud = shutil.which("gcloud")
        if gcloud is None:
            raise RuntimeError("AIP_STORAGE_URI is a gs:// URI but the gcloud CLI is not in this image; "
                               "bake the archives into the image instead (the default)")
        subprocess.run([gcloud, "storage", "cp", f"{uri.rstrip('/')}/*.[mw]ar", str(store)], check=True)
    else:
        found = list(Path(uri).glob("*.[mw]ar"))
        if not found:
            raise RuntimeError(f"AIP_STORAGE_URI {uri} holds no .mar/.war archives")
        for f in found:
            shutil.copy2(f, store / f.name)
    return store


def stop_process_group(proc: subprocess.Popen, grace_s: float = TORCHSERVE_GRACE_S) -> None:
    """SIGTERM to the process group, SIGKILL whatever is left after grace_s."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):  # the JVM's worker processes share the group
            os.killpg(proc.pid, signal.SIGKILL)
        return


class Supervisor:
    """TorchServe's process, its bring-up (models, workflow, probes) and its end."""

    def __init__(self, config: Path, store: Path, logs: Path, workdir: Path, timeout: float) -> None:
        self.config, self.store, self.logs, self.workdir, self.timeout = config, store, logs, workdir, timeout
        settings = ts.read_config(config)
        self.inference = settings["inference_address"].strip()
        self.management = settings["management_address"].strip()
        self.proc: subprocess.Popen | None = None
        self.failed: str | None = None

    def bring_up(self) -> None:
        """Blocking: the models ready, the workflow registered, both pipeline endpoints answering."""
        ts.wait_until(lambda: self.alive() and ts.models_ready(self.management, ts.SERVED_MODELS),
                      self.timeout, "the models")
        ts.register_workflow(self.management)
        for path in PROBED:
            ts.wait_until(lambda p=path: self.alive() and ts.answers(self.inference, p, synthetic_jpeg()),
                          self.timeout, path)

    def alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError("TorchServe exited; see its log above")
        return True

    @contextlib.asynccontextmanager
    async def lifespan(self, state: State, server: uvicorn.Server) -> AsyncIterator[None]:
        self.proc = ts.start(self.config, self.store, self.logs, foreground=True, console=True, cwd=self.workdir)
        tasks = [asyncio.create_task(self._bring_up(state, server)), asyncio.create_task(self._watch(server))]
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.to_thread(stop_process_group, self.proc)
            print("TorchServe stopped", flush=True)

    async def _bring_up(self, state: State, server: uvicorn.Server) -> None:
        try:
            await asyncio.to_thread(self.bring_up)
        except Exception as exc:  # noqa: BLE001 - any failure ends the process with its reason
            self.failed = f"start-up failed: {exc}"
            print(self.failed, file=sys.stderr, flush=True)
            server.should_exit = True
            return
        state.ready = True
        print(f"ready: front door http://{state.settings.host}:{state.settings.port} -> TorchServe {self.inference}",
              flush=True)

    async def _watch(self, server: uvicorn.Server) -> None:
        assert self.proc is not None
        while self.proc.poll() is None:
            await asyncio.sleep(1.0)
        if not server.should_exit:
            self.failed = f"TorchServe exited with code {self.proc.returncode}"
            print(self.failed, file=sys.stderr, flush=True)
            server.should_exit = True


def run(config: Path, store: Path, logs: Path, timeout: float = 900) -> int:
    """Start TorchServe and the front door; return when either ends (0 after SIGTERM/SIGINT)."""
    base = ts.read_config(config)
    settings = FrontDoorSettings.from_env()
    workdir = Path(tempfile.mkdtemp(prefix="fashion-serve-"))
    # TorchServe unpacks every archive under java.io.tmpdir/models (1.2 GB here) and never deletes it: give it
    # this run's own directory (TMPDIR for the workers too), removed when the run ends, so restarts never fill
    # the disk.
    os.environ["TMPDIR"] = str(workdir)
    try:
        return _run(config, base.get("vmargs", "").strip(), store, logs, timeout, settings, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _run(config: Path, vmargs: str, store: Path, logs: Path, timeout: float, settings: FrontDoorSettings,
         workdir: Path) -> int:
    if settings.storage_uri:
        store = fetch_archives(settings.storage_uri, workdir / "model_store")
    store = store.resolve()
    derived = ts.derive_config(config, workdir / "config.properties", {
        "model_store": str(store), "workflow_store": str(store),
        "vmargs": f"{vmargs} -Djava.io.tmpdir={workdir}".strip()})  # where the JVM unpacks the archives
    supervisor = Supervisor(derived, store, logs.resolve(), workdir, timeout)
    if supervisor.inference.rsplit(":", 1)[-1] == str(settings.port):
        print(f"TorchServe's inference_address {supervisor.inference} takes the front door's port {settings.port}: "
              "give one of them another port", file=sys.stderr)
        return 2
    server: uvicorn.Server | None = None
    search = SearchService(index_folder(settings.index_dir, settings.storage_uri))
    print(f"search: {search.info() or search.reason}", flush=True)
    app = build_app(settings, supervisor.inference, lifespan=lambda state: supervisor.lifespan(state, server),
                    search=search)
    server = uvicorn.Server(server_config(app, settings.host, settings.port, settings.drain_s))
    print(f"front door on {settings.host}:{settings.port} (predict {settings.predict_route} -> "
          f"{settings.predict_target}, health {settings.health_route}, at most {settings.max_inflight} requests in "
          f"flight per endpoint) -> TorchServe {supervisor.inference}; KServe v2 over REST at /v2"
          + (f", over gRPC on {settings.host}:{settings.grpc_port}" if settings.grpc_port else " (gRPC off)"),
          flush=True)
    for sig in (signal.SIGTERM, signal.SIGINT):  # uvicorn re-raises the signal after shutting down: ignore it then
        signal.signal(sig, lambda *_: None)
    server.run()
    if supervisor.failed:
        print(supervisor.failed, file=sys.stderr)
        return 1
    return 0
