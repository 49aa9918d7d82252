"""Segmenter data: datasets converted to YOLO-seg instances through one grouping table (garment_groups.yaml)."""
