"""Run an exported model on any of the supported backends behind one call: tensor batch in, tensor(s) out.

Every backend's runner takes a float32 NCHW torch tensor and returns what the traced PyTorch module returns:
one tensor, or a tuple of tensors in the module's output order. Callers (fashion.stages.segment, fashion.stages.embed,
fashion.stages.attributes) never know which backend runs. Which one an archive uses is in its manifest
(`settings.backend`, `settings.precision`), chosen at export (see export/backends.json and BENCHMARKS.md).
"""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Callable, Union

import torch

Outputs = Union[torch.Tensor, tuple[torch.Tensor, ...]]
Runner = Callable[[torch.Tensor], Outputs]
log = logging.getLogger(__name__)

BACKENDS = ("torchscript", "onnxruntime", "openvino", "aoti")
SUFFIX = {"torchscript": ".pt", "onnxruntime": ".onnx", "openvino": ".xml", "aoti": ".pt2"}
PRECISIONS = ("fp32", "fp16", "bf16", "int8")
# fp16: TorchScript (CUDA). bf16: OpenVINO's inference precision on CPUs that report BF16 (same IR as fp32).
# int8: an OpenVINO IR quantised by NNCF at export (export/quantize.py), its float parts run in f32.


class BackendUnavailable(RuntimeError):
    """The archive's backend cannot run here (its package is missing, or it cannot use this device)."""


def artifact_files(artifact: str, backend: str) -> list[str]:
    """Every file a backend's artifact consists of (OpenVINO keeps its weights beside the .xml)."""
    return [artifact, str(Path(artifact).with_suffix(".bin"))] if backend == "openvino" else [artifact]


def _outputs(values: list) -> Outputs:
    tensors = tuple(torch.from_numpy(v) if not isinstance(v, torch.Tensor) else v for v in values)
    return tensors[0] if len(tensors) == 1 else tensors


def _cpu_on_gpu_machine(path: Path, backend: str, device: torch.device) -> None:
    log.warning("%s: this %s archive runs on the CPU although %s is here; for GPUs export with --target cuda "
                "(TorchScript fp16)", path.name, backend, device)


def _torchscript(path: Path, device: torch.device, threads: int, precision: str) -> Runner:
    module = torch.jit.load(str(path), map_location=device).eval()
    if precision == "fp16":
        if device.type != "cuda":
            log.warning("%s is an fp16 model (exported for CUDA) running on %s: slow", path.name, device)
        module = module.half()

        def run_half(batch: torch.Tensor) -> Outputs:
            return module(batch.half())
        return run_half
    return module


def _onnxruntime(path: Path, device: torch.device, threads: int, precision: str) -> Runner:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable("backend onnxruntime needs the onnxruntime package") from exc
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # workers share the cores: a spinning thread pool would burn the cores other workers need
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: list = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
    elif device.type == "cuda":
        _cpu_on_gpu_machine(path, "onnxruntime", device)
    session = ort.InferenceSession(str(path), options, providers=providers)
    name = session.get_inputs()[0].name

    def run(batch: torch.Tensor) -> Outputs:
        return _outputs(session.run(None, {name: batch.detach().cpu().numpy()}))
    return run


@functools.lru_cache(maxsize=1)
def _openvino_core():
    """One OpenVINO Core per process: the models of a process share its CPU executor."""
    import openvino as ov
    return ov.Core()


def bf16_supported() -> bool:
    """Whether OpenVINO reports BF16 for this CPU (AVX-512 BF16 or AMX); bf16 archives run in f32 elsewhere."""
    try:
        return "BF16" in _openvino_core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except Exception:  # no openvino, or a build without the property
        return False


def _openvino(path: Path, device: torch.device, threads: int, precision: str) -> Runner:
    try:
        core = _openvino_core()
    except ImportError as exc:
        raise BackendUnavailable("backend openvino needs the openvino package") from exc
    if device.type == "cuda":
        _cpu_on_gpu_machine(path, "openvino", device)
    hint = "bf16" if precision == "bf16" and bf16_supported() else "f32"
    compiled = core.compile_model(core.read_model(str(path)), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"})
    request = compiled.create_infer_request()

    def run(batch: torch.Tensor) -> Outputs:
        result = request.infer(batch.detach().cpu().numpy())
        return _outputs([result[out].copy() for out in compiled.outputs])
    return run


def _aoti(path: Path, device: torch.device, threads: int, precision: str) -> Runner:
    package = torch._inductor.aoti_load_package(str(path))

    def run(batch: torch.Tensor) -> Outputs:
        out = package(batch)
        return _outputs(list(out) if isinstance(out, (list, tuple)) else [out])
    return run


LOADERS = {"torchscript": _torchscript, "onnxruntime": _onnxruntime, "openvino": _openvino, "aoti": _aoti}


def load_runner(path: str | os.PathLike, backend: str = "torchscript", device: torch.device | None = None,
                threads: int | None = None, precision: str = "fp32") -> Runner:
    """The callable for one exported artifact (fp16: TorchScript only; archives use it on CUDA devices).
    threads: default, the torch setting this worker's handler made (fashion.threads)."""
    if backend not in LOADERS:
        raise BackendUnavailable(f"unknown backend {backend!r}; expected one of {', '.join(BACKENDS)}")
    if precision not in PRECISIONS:
        raise BackendUnavailable(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    device = device or torch.device("cpu")
    if precision == "fp16" and backend != "torchscript":
        raise BackendUnavailable(f"fp16 is supported with the torchscript backend only, not {backend}")
    if precision in ("bf16", "int8") and backend != "openvino":
        raise BackendUnavailable(f"{precision} is supported with the openvino backend only, not {backend}")
    return LOADERS[backend](Path(path), device, threads or torch.get_num_threads(), precision)
