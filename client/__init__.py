"""A client for a deployed endpoint (Vertex AI or any URL serving this package's contract)."""
