"""Build each model for its backend (TorchScript, ONNX Runtime, OpenVINO, AOTInductor), check it against the eager
model, pack the archives."""
