"""Where weights come from: a file's sha256 (recorded in manifests and weights/README.md) and whether the model
hub is reachable (decided once per process). Shared by export and training."""
from __future__ import annotations

import functools
import hashlib
import logging
import os
import socket
from pathlib import Path

log = logging.getLogger("export")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_sha256_file(path: Path) -> str:
    """`path`'s sha256 into `<path>.sha256` beside it (the `sha256sum` line the weights tests read); the digest."""
    digest = sha256(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n")
    return digest


@functools.lru_cache(maxsize=1)
def hub_reachable(host: str = "huggingface.co", timeout: float = 2.0) -> bool:
    """Decide 'offline' once and fast, so no library sits in a 50 s download retry loop."""
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes"):
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        log.warning("the model hub (%s) is unreachable: setting HF_HUB_OFFLINE=1 for this run", host)
        os.environ["HF_HUB_OFFLINE"] = "1"
        return False
