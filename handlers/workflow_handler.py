"""The `fashion` workflow's handler file, required by torch-workflow-archiver. It is empty on purpose.

The workflow (export/fashion_workflow.yaml) is a chain of model nodes only: TorchServe 0.12 loses the
responses of nodes that answer almost instantly, which function nodes do. The segmenter node reads the
request; the embedder node, last, encodes the response (handlers/embedder_handler.py).
"""
