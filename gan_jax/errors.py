"""User-facing errors: each message is one line that says what to change."""


class GanJaxError(ValueError):
  """A problem with the user's config, data or workdir (not a bug).

  `gan_jax.main` prints these as a single line and exits with status 1.
  """


class ConfigError(GanJaxError):
  """An invalid config value."""


class DataNotFoundError(GanJaxError):
  """The dataset is neither prepared locally nor downloadable."""
