"""Fashion image pipeline: plain modules that run without TorchServe.

The request flow is decode -> preprocess -> predict -> postprocess -> encode; TorchServe handlers in
``handlers/`` are thin adapters over these modules.
"""
