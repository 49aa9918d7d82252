"""Start TorchServe with this repository's config, register the workflow, wait until it answers."""
