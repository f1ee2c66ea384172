"""Every error type of the package (a leaf module: it imports nothing of ours).

The CLI maps the bad-input ones (TaskError, ConfigError, ResourceError, RunBusyError, RunStoreError) to one
line on stderr and exit code 2; DivergedError to exit code 1.
"""


class TaskError(ValueError):
    """Invalid task parameters: a p that is not prime, an unknown group, k < 2, ..."""


class ConfigError(ValueError):
    """Invalid configuration value, named in the message."""


class ResourceError(ValueError):
    """A run that cannot fit in memory (estimate and limit in the message)."""


class DivergedError(RuntimeError):
    """Loss became NaN/inf; the last good checkpoint is kept."""


class RunBusyError(RuntimeError):
    """The run directory is being trained by another process."""


class RunStoreError(ValueError):
    """A file of the run store that cannot be used (corrupt, wrong content, unwritable), or a run directory
    holding another run; the message names the file and says what to do."""
