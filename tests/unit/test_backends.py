"""Every backend's artifact answers like the eager module, with any batch size; choosing backends."""
from __future__ import annotations

import json

import pytest
import torch

from export._trace import artifact_name, convert
from export.archive import _model_files
from export.choice import BadBackendFlag, choose
from fashion.backends import BackendUnavailable, load_runner


class TwoHeads(torch.nn.Module):
    """A conv and two outputs of different shapes, like the segmenter (preds, protos)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.norm = torch.nn.LayerNorm(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = self.conv(x).relu()
        return self.norm(y.mean(dim=(2, 3))), y[:, :2]


@pytest.mark.parametrize("backend", ["torchscript", "onnxruntime", "openvino"])
def test_backend_matches_eager_for_any_batch(tmp_path, backend):
    model = TwoHeads().eval()
    path = tmp_path / artifact_name("tiny", backend)
    convert(model, torch.rand(1, 3, 16, 16), path, backend)
    run = load_runner(path, backend, torch.device("cpu"), threads=1)
    for n in (1, 3):
        x = torch.rand(n, 3, 16, 16)
        with torch.no_grad():
            want = model(x)
        got = run(x)
        assert len(got) == 2
        for g, w in zip(got, want):
            assert g.shape == w.shape
            torch.testing.assert_close(g.float(), w, rtol=1e-4, atol=1e-5)


def test_fp16_torchscript_is_close_and_returns_half(tmp_path):
    model = TwoHeads().eval()
    path = tmp_path / "tiny.pt"
    convert(model, torch.rand(1, 3, 16, 16), path, "torchscript", "fp16")
    x = torch.rand(2, 3, 16, 16)
    got = load_runner(path, "torchscript", torch.device("cpu"), threads=1, precision="fp16")(x)
    assert got[0].dtype == torch.float16
    torch.testing.assert_close(got[0].float(), model(x)[0], rtol=1e-2, atol=1e-2)


def test_load_runner_refuses_what_it_cannot_run(tmp_path):
    with pytest.raises(BackendUnavailable, match="unknown backend"):
        load_runner(tmp_path / "x.bin", "tensorrt")
    with pytest.raises(BackendUnavailable, match="fp16"):
        load_runner(tmp_path / "x.onnx", "onnxruntime", precision="fp16")


def test_choose_flags_then_measured_choice_then_torchscript():
    choice = {"cpu": {"embedder": "openvino"}, "cuda": {"embedder": "torchscript fp16", "segmenter": "torchscript"}}
    assert choose("embedder", "cpu", [], choice=choice) == ("openvino", "fp32")
    assert choose("segmenter", "cpu", [], choice=choice) == ("torchscript", "fp32")
    assert choose("embedder", "cpu", ["onnxruntime"], choice=choice) == ("onnxruntime", "fp32")
    assert choose("embedder", "cpu", ["aoti", "embedder=torchscript"], choice=choice) == ("torchscript", "fp32")
    assert choose("embedder", "cuda", [], choice=choice) == ("torchscript", "fp16")
    assert choose("segmenter", "cuda", [], choice=choice) == ("torchscript", "fp32")
    assert choose("embedder", "cuda", [], precision="fp32", choice=choice) == ("torchscript", "fp32")
    assert choose("embedder", "cuda", ["onnxruntime"], choice=choice) == ("onnxruntime", "fp32")


@pytest.mark.parametrize("flags, message", [(["tensorrt"], "unknown backend"),
                                            (["decoder=onnxruntime"], "unknown model")])
def test_choose_refuses_bad_flags(flags, message):
    with pytest.raises(BadBackendFlag, match=message):
        choose("embedder", "cpu", flags, choice={})


def test_choose_refuses_fp16_off_torchscript():
    with pytest.raises(BadBackendFlag, match="fp16 needs the torchscript backend"):
        choose("embedder", "cuda", ["openvino"], precision="fp16", choice={})


def test_committed_choice_names_real_backends():
    from export.choice import load_choice
    from fashion.backends import BACKENDS

    choice = load_choice()
    for target in ("cpu", "cuda"):
        assert set(choice[target]) == {"segmenter", "embedder", "attributes"}
        for entry in choice[target].values():
            backend, _, precision = entry.partition(" ")
            assert backend in BACKENDS and precision in ("", "fp16", "bf16", "int8")
            assert precision != "fp16" or backend == "torchscript"
            assert precision not in ("bf16", "int8") or (backend == "openvino" and target == "cpu")
    for model, precision in choice.get("cpu_fallback", {}).items():  # what export takes without calibration photos
        assert model in choice["cpu"] and precision in ("fp32", "bf16")


def test_archive_packs_the_manifests_backend_files(tmp_path):
    manifest = {"name": "segmenter", "architecture": "x", "artifact": "segmenter.xml",
                "input": {"size": [32, 32], "resize": "letterbox", "interpolation": "bilinear"},
                "weights": {}, "labels": {}, "settings": {"backend": "openvino"}, "parity": {}}
    (tmp_path / "segmenter.json").write_text(json.dumps(manifest))
    (tmp_path / "segmenter.xml").write_text("<net/>")
    with pytest.raises(FileNotFoundError, match="segmenter.bin"):
        _model_files(tmp_path, "segmenter")
    (tmp_path / "segmenter.bin").write_bytes(b"\0")
    (tmp_path / "segmenter.pt").write_bytes(b"stale")  # another backend's leftover is not packed
    assert [p.name for p in _model_files(tmp_path, "segmenter")] == ["segmenter.json", "segmenter.xml", "segmenter.bin"]



def test_bf16_is_an_openvino_precision_only(tmp_path):
    from fashion.backends import BackendUnavailable, bf16_supported, load_runner

    assert isinstance(bf16_supported(), bool)
    with pytest.raises(BackendUnavailable, match="bf16 is supported with the openvino backend only"):
        load_runner(tmp_path / "m.pt", "torchscript", precision="bf16")


def test_int8_is_an_openvino_precision_and_falls_back_without_photos(tmp_path):
    from export.choice import fallback
    from fashion.backends import BackendUnavailable, load_runner

    with pytest.raises(BackendUnavailable, match="int8 is supported with the openvino backend only"):
        load_runner(tmp_path / "m.onnx", "onnxruntime", precision="int8")
    with pytest.raises(BadBackendFlag, match="int8 needs the openvino backend"):
        choose("segmenter", "cpu", ["torchscript"], precision="int8", choice={})
    choice = {"cpu": {"segmenter": "openvino int8"}, "cpu_fallback": {"segmenter": "bf16"}}
    assert choose("segmenter", "cpu", [], choice=choice) == ("openvino", "int8")
    assert fallback("segmenter", "cpu", choice) == "bf16" and fallback("embedder", "cpu", choice) == "fp32"


def test_one_device_policy_for_pipelines_and_workers(monkeypatch):
    import torch

    from fashion.manifest import select_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.delenv("FASHION_DEVICE", raising=False)
    assert select_device() == torch.device("cuda:0") and select_device(2) == torch.device("cuda:2")
    assert select_device(None, any_gpu=False) == torch.device("cpu")  # a worker TorchServe gave no GPU
    monkeypatch.setenv("FASHION_DEVICE", "cpu")
    assert select_device(2) == torch.device("cpu")
    monkeypatch.setenv("FASHION_DEVICE", "cuda")
    assert select_device(1, any_gpu=False) == torch.device("cuda:1")
