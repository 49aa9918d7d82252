"""Segmenter data: datasets converted to YOLO-seg instances through one grouping table (groups.yaml)."""
