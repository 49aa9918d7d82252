"""The catalogue job: enrich a whole catalogue through the service, index its embeddings, search them."""
