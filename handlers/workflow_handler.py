"""The workflow's handler file, required by torch-workflow-archiver. It is empty on purpose.

The workflow (written by export.archive from the registry) is a chain of model nodes only: TorchServe 0.12 loses
the responses of nodes that answer almost instantly, which function nodes do. The chain's first node reads the
request; the last encodes the response (handlers/model_handler.py).
"""
