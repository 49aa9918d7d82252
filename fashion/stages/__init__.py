"""The model stages and what they compute: segmentation, attributes, embeddings and the steps on them, preprocessing,
masks, colour, garment groups, garment by words, metadata, zero-shot."""
