"""Training on the host: the loop, each run's work, dispatching steps to the
devices, preemption, XLA:CPU settings."""
