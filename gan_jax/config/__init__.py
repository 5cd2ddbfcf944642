"""The config: every key's default, which keys say what a run computes, and
the checks of a config before anything runs."""
