"""Train the attribute classifier (one TinyViT, one head per attribute) on a Fashion Product Images catalogue."""
