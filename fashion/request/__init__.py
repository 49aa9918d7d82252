"""The request on its way in: wire shapes (codec), decoding and its guards, image URLs, limits, options, the plan, and
what travels between workflow nodes (envelope, handoff)."""
