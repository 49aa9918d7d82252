"""The one convert -> check -> save -> log helper every exporter uses, for every backend.

TorchScript: torch.jit.trace. ONNX Runtime: torch.onnx (dynamo exporter, batch axis dynamic, one file).
OpenVINO: the ONNX graph converted to OpenVINO IR (.xml + .bin, fp32 weights). AOTInductor: torch.export
then AOTInductor's compiled package (.pt2). Each artifact is loaded back through fashion.backends and
checked against the eager model before the export counts.
"""
from __future__ import annotations

import copy
import logging
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import torch

from fashion.backends import BACKENDS, SUFFIX, Runner, load_runner
from fashion.manifest import Manifest
from fashion.stages.stage import FORWARD_BATCH, FORWARD_CHUNK

log = logging.getLogger("export")
MAX_BATCH = FORWARD_BATCH  # the largest batch a dynamic export accepts (the embedder's: images + crops)


class ExportCheckFailed(RuntimeError):
    pass


def trace(module: torch.nn.Module, example: Any) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript deprecation and tracer warnings
        with torch.inference_mode(False), torch.no_grad():
            return torch.jit.trace(module.eval(), example, strict=False, check_trace=False)


def _batch_of_two(example: torch.Tensor) -> torch.Tensor:
    """torch.export specialises a dimension of size 1: export the batch axis with an example of 2."""
    return example if example.shape[0] > 1 else torch.cat([example, example])


def _dynamic_batch(max_batch: int) -> tuple[dict[int, Any], ...]:
    return ({0: torch.export.Dim("batch", min=1, max=max_batch)},)


def to_onnx(module: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (_batch_of_two(example),), str(path), dynamo=True, external_data=False,
                          dynamic_shapes=_dynamic_batch(MAX_BATCH), input_names=["images"], verbose=False)


def to_openvino(module: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    import openvino as ov

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = Path(tmp) / "model.onnx"
        to_onnx(module, example, onnx_path)
        ov.save_model(ov.convert_model(str(onnx_path)), str(path), compress_to_fp16=False)


def to_aoti(module: torch.nn.Module, example: torch.Tensor, path: Path) -> None:
    """Compiled for batches up to MAX_BATCH; the YOLO head guards against one batch size above 16 (26), so
    models that see at most FORWARD_CHUNK images (all but the embedder) are compiled for that many."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            program = torch.export.export(module.eval(), (_batch_of_two(example),),
                                          dynamic_shapes=_dynamic_batch(MAX_BATCH))
        except torch._dynamo.exc.UserError:
            program = torch.export.export(module.eval(), (_batch_of_two(example),),
                                          dynamic_shapes=_dynamic_batch(FORWARD_CHUNK))
        torch._inductor.aoti_compile_and_package(program, package_path=str(path))


def convert(module: torch.nn.Module, example: torch.Tensor, path: Path, backend: str,
            precision: str = "fp32") -> None:
    if backend == "torchscript" and precision == "fp16":  # traced in half: casts recorded in fp32 would stay
        trace(copy.deepcopy(module).half(), example.half()).save(str(path))
    elif backend == "torchscript":
        trace(module, example).save(str(path))
    elif backend == "onnxruntime":
        to_onnx(module, example, path)
    elif backend == "openvino":
        to_openvino(module, example, path)
    elif backend == "aoti":
        to_aoti(module, example, path)
    else:
        raise ValueError(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")


def artifact_name(stem: str, backend: str) -> str:
    return stem + SUFFIX[backend]


def convert_check_save(module: torch.nn.Module, example: Any, out_dir: Path, stem: str,
                       check: Callable[[Runner], dict[str, Any]], backend: str = "torchscript",
                       precision: str = "fp32") -> tuple[str, dict[str, Any]]:
    """Convert for `backend`, load it back, run `check(runner)` (raises ExportCheckFailed on a miss);
    return (artifact file name, the check's figures). fp16 is checked in fp16 on this machine's device."""
    start = time.perf_counter()
    out_dir.mkdir(parents=True, exist_ok=True)
    name = artifact_name(stem, backend)
    convert(module, example, out_dir / name, backend, precision)
    runner = load_runner(out_dir / name, backend, torch.device("cpu"), precision=precision)
    figures = check(runner)
    log.info("%s (%s, %s): converted, checked %s in %.1fs", name, backend, precision, figures,
             time.perf_counter() - start)
    return name, figures


def quiet_onnx_logs() -> None:
    """torch.onnx's exporter logs a line per graph pass at INFO."""
    for noisy in ("onnx_ir", "onnxscript", "torch.onnx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def write_manifest(manifest: Manifest, out_dir: Path) -> Path:
    path = manifest.save(out_dir)
    log.info("%s: %s weights (%s), backend %s", manifest.name, "RANDOM" if manifest.random_weights else "trained",
             manifest.weights.get("source"), manifest.backend)
    return path
