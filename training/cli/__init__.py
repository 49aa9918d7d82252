"""`python -m training`'s commands, one module per group, each with `add_parsers(sub)` (its subcommands, each
with its handler as `handler`): attributes (train, evaluate), embedder (embedder, evaluate-embedder,
compare-embedders, evaluate-paraphrases), segmenter (segmenter-data, segmenter, keep-segmenter-run,
ship-segmenter, evaluate-segmenter), prompt (calibrate-prompt), worn (worn, worn-heads, worn-gender,
worn-retrieval). training/__main__.py only wires them."""
