"""Build each model, trace it to TorchScript, check it against the eager model, pack the archives."""
