"""The networks and their weights, shared by training, export and serving: the attribute model, the embedder's
open_clip architectures, the segmenter's backbone and checkpoints, the shared trunk, pretrained weights from
packages, provenance."""
