"""The `fashion` workflow's handler file, required by torch-workflow-archiver. It is empty on purpose.

The workflow (export/fashion_workflow.yaml) has model nodes only: TorchServe 0.12 loses responses of
nodes that answer almost instantly, which function nodes do. The segmenter and attributes nodes read the
request themselves; the embedder node joins them and encodes the response (handlers/embedder_handler.py).
"""
