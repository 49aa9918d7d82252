"""Thin TorchServe adapters over the plain `fashion` modules."""
