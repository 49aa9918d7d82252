"""The one trace -> check -> save -> log helper every exporter uses."""
from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from fashion.manifest import Manifest

log = logging.getLogger("export")


class ExportCheckFailed(RuntimeError):
    pass


def trace(module: torch.nn.Module, example: Any) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings
        with torch.inference_mode(False), torch.no_grad():
            return torch.jit.trace(module.eval(), example, strict=False, check_trace=False)


def trace_check_save(module: torch.nn.Module, example: Any, out_dir: Path, filename: str,
                     check: Callable[[torch.jit.ScriptModule], dict[str, Any]]) -> dict[str, Any]:
    """Trace, run `check(traced)` (raises ExportCheckFailed on a miss), save; return the check's figures."""
    start = time.perf_counter()
    traced = trace(module, example)
    figures = check(traced)
    out_dir.mkdir(parents=True, exist_ok=True)
    traced.save(str(out_dir / filename))
    log.info("%s: traced, checked %s, saved in %.1fs", filename, figures, time.perf_counter() - start)
    return figures


def write_manifest(manifest: Manifest, out_dir: Path) -> Path:
    path = manifest.save(out_dir)
    log.info("%s: %s weights (%s)", manifest.name, "RANDOM" if manifest.random_weights else "trained",
             manifest.weights.get("source"))
    return path
