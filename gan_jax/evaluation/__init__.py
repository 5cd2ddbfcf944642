"""Sample quality: the evaluation protocol per data kind, the evaluators, their
metrics and feature networks (the shipped classifiers)."""
