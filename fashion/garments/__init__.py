"""What every room says of a garment: its group (the served classes' body groups), its colour and its name,
the catalogue's vocabulary derived from its articleType, and its mask's COCO RLE."""
