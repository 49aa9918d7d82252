"""TorchServe lifecycle helpers shared by `make serve`, the Docker entrypoint and the e2e fixtures."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Iterator

import yaml


from fashion import models as registry
from fashion.request.limits import limits

# What TorchServe loads at start (the workflow's nodes come with its .war when it is registered).
SERVED_MODELS = list(registry.SERVED)


def served_settings() -> dict[str, str]:
    """What the registry and the limits decide in TorchServe's configuration (derive_config adds them where a
    config file does not set them): the models loaded at start, and the body limit (MAX_REQUEST_BYTES) for
    requests and responses."""
    size = str(limits().max_request_bytes)
    return {"load_models": ",".join(f"{m}={m}.mar" for m in registry.SERVED),
            "max_request_size": size, "max_response_size": size}


def torchserve_bin() -> str:
    exe = Path(sys.executable).with_name("torchserve")
    return str(exe) if exe.exists() else (shutil.which("torchserve") or "torchserve")


def _request(method: str, url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start(config: Path, store: Path, log_dir: Path, foreground: bool = False,
          console: bool = False, cwd: Path | None = None) -> subprocess.Popen | None:
    """Start TorchServe. Background mode returns None (stop with `torchserve --stop`).
    Its console output goes to log_dir/torchserve.out, or stays on ours with console=True (containers).
    With token authorisation on, TorchServe writes key_file.json into its working directory `cwd`."""
    # No PYTHONPATH: each archive carries its own copy of our packages, and mixing in the working tree's
    # (possibly newer) modules with an archive's handler breaks in confusing ways.
    env = {**os.environ, "LOG_LOCATION": str(log_dir), "METRICS_LOCATION": str(log_dir)}
    # Several workers share the cores. OpenMP's default spin-waiting turns that into a fight: measured on
    # 2 cores, passive waiting took the workflow from 718 to 430 ms p50 and 1.47 to 2.64 img/s at 8 clients.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # Threads per worker (fashion.threads): the cores divided among the workers of one model or node.
    env.setdefault("FASHION_NODE_WORKERS", str(node_workers(store / registry.WORKFLOW_ARCHIVE)))
    env.setdefault("FASHION_MODEL_WORKERS", read_config(config).get("default_workers_per_model", "1").strip() or "1")
    log_dir.mkdir(parents=True, exist_ok=True)
    cmd = [torchserve_bin(), "--start", "--ncs", "--ts-config", str(config), "--model-store", str(store)]
    with open(os.devnull if console else log_dir / "torchserve.out", "ab") as sink:
        out = None if console else sink
        if foreground:
            cmd.append("--foreground")
            return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                    cwd=cwd)
        subprocess.run(cmd, env=env, check=True, stdout=out, stderr=subprocess.STDOUT, cwd=cwd)
    return None


def node_workers(war: Path) -> int:
    """Workers per workflow node (the most any node starts with, from the spec inside the .war); 1 if unknown."""
    try:
        with zipfile.ZipFile(war) as z:
            spec = yaml.safe_load(z.read(next(n for n in z.namelist() if n.endswith((".yaml", ".yml")))))
    except (OSError, StopIteration, zipfile.BadZipFile, yaml.YAMLError):
        return 1
    models = spec.get("models", {})
    default = int(models.get("min-workers", 1))
    return max([int(v.get("min-workers", default)) for v in models.values() if isinstance(v, dict)] or [default])


def stop() -> None:
    subprocess.run([torchserve_bin(), "--stop"], check=False)


def wait_until(predicate, timeout: float, what: str, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def pings(inference: str) -> bool:
    try:
        return _request("GET", f"{inference}/ping", timeout=3)[0] == 200
    except OSError:
        return False


def models_ready(management: str, names: list[str]) -> bool:
    for name in names:
        status, body = _request("GET", f"{management}/models/{name}")
        if status != 200 or b'"READY"' not in body:
            return False
    return True


def register_workflow(management: str, war: str = registry.WORKFLOW_ARCHIVE, timeout: float = 600) -> str:
    """POST /workflows?url=<war in the store>; idempotent (an existing workflow is kept)."""
    status, body = _request("GET", f"{management}/workflows/{registry.WORKFLOW}")
    if status == 200:
        return "already registered"
    query = urllib.parse.urlencode({"url": war})
    status, body = _request("POST", f"{management}/workflows?{query}", timeout=timeout)
    if status != 200:
        raise RuntimeError(f"registering {war} failed with {status}: {body.decode(errors='replace')}")
    return body.decode()


def answers(inference: str, path: str, image: bytes) -> bool:
    req = urllib.request.Request(f"{inference}{path}", data=image, method="POST",
                                 headers={"Content-Type": "image/jpeg"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return resp.status == 200 and b'"garments"' in resp.read()


def register_model(management: str, mar: str, name: str, batch_size: int, max_batch_delay: int,
                   workers: int = 1, timeout: float = 600) -> None:
    """POST /models for an archive in the store, with its batching (overrides the archive's own config; the
    archives' delay is export.archive.MAX_BATCH_DELAY_MS)."""
    query = urllib.parse.urlencode({"url": mar, "model_name": name, "batch_size": batch_size,
                                    "max_batch_delay": max_batch_delay, "initial_workers": workers,
                                    "synchronous": "true", "response_timeout": 120})
    status, body = _request("POST", f"{management}/models?{query}", timeout=timeout)
    if status != 200:
        raise RuntimeError(f"registering {mar} failed with {status}: {body.decode(errors='replace')[:300]}")


def scale(management: str, model: str, workers: int, timeout: float = 600) -> list[dict]:
    """Set a model's (or workflow node's, e.g. fashion__segmenter) worker count; its workers once ready."""
    query = urllib.parse.urlencode({"min_worker": workers, "max_worker": workers, "synchronous": "true",
                                    "timeout": int(timeout)})
    status, body = _request("PUT", f"{management}/models/{urllib.parse.quote(model)}?{query}", timeout=timeout)
    if status != 200:
        raise RuntimeError(f"scaling {model} to {workers} failed: HTTP {status} {body[:300]!r}")
    status, body = _request("GET", f"{management}/models/{urllib.parse.quote(model)}")
    return json.loads(body)[0]["workers"]


def _settings(text: str) -> dict[str, str]:
    return dict(re.findall(r"^([A-Za-z_]+)=(.*)$", text, re.M))


def read_config(config: Path) -> dict[str, str]:
    return _settings(config.read_text())


def derive_config(base: Path, out: Path, overrides: dict[str, str]) -> Path:
    """A copy of `base` with some keys replaced (ports, addresses, store paths), and served_settings() for the
    keys it does not set."""
    text = base.read_text()
    given = _settings(text)
    for key, value in {**{k: v for k, v in served_settings().items() if k not in given}, **overrides}.items():
        line = f"{key}={value}".replace("\\", "\\\\")
        text, n = re.subn(rf"^{key}=.*$", line, text, flags=re.M)
        if not n:
            text += f"\n{key}={value}\n"
    out.write_text(text)
    return out


def free_port() -> int:
    return spare_ports(1)[0]


def spare_ports(n: int) -> list[int]:
    """`n` different spare loopback ports (all held while they are chosen, so none repeats)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def spare_config(base: Path, out: Path, overrides: dict[str, str] | None = None,
                 extra_ports: int = 0) -> tuple[Path, dict[str, str]]:
    """A copy of `base` with every TorchServe port on a spare loopback port (a second server beside another):
    (its path, the inference/management/metrics URLs; with `extra_ports`, that many more spare ports, none of
    them TorchServe's, under "extra_ports" as a comma-separated list)."""
    ports = spare_ports(5 + extra_ports)
    urls = {k: f"http://127.0.0.1:{port}" for k, port in zip(("inference", "management", "metrics"), ports)}
    grpc = {"grpc_inference_port": str(ports[3]), "grpc_management_port": str(ports[4])}
    config = derive_config(base, out, {"inference_address": urls["inference"], "management_address": urls["management"],
                                       "metrics_address": urls["metrics"], **grpc, **(overrides or {})})
    if extra_ports:
        urls["extra_ports"] = ",".join(str(p) for p in ports[5:])
    return config, urls


@contextlib.contextmanager
def temporary_server(base_config: Path, store: Path, workdir: Path, models: list[str],
                     probe: bytes, timeout: float = 600,
                     overrides: dict[str, str] | None = None) -> Iterator[dict[str, str]]:
    """TorchServe in the foreground on spare loopback ports, the workflow registered; killed on exit."""
    config, urls = spare_config(base_config, workdir / "config.properties", {
        "model_store": str(store.resolve()), "workflow_store": str(store.resolve()), **(overrides or {})})
    old_tmp = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(workdir)  # TorchServe's pid file lives there: never clash with `make serve`
    proc = start(config, store, workdir / "logs", foreground=True)
    try:
        wait_until(lambda: models_ready(urls["management"], models), timeout, f"models {models}")
        register_workflow(urls["management"])
        wait_until(lambda: answers(urls["inference"], registry.WORKFLOW_PATH, probe), timeout, "the workflow")
        yield {**urls, "logs": str(workdir / "logs")}
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        if old_tmp is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_tmp
