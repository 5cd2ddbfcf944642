"""A run directory, as training writes it and every reader reads it: config.json,
checkpoints/, metrics.jsonl, samples/, eval/ and diverged.json."""
