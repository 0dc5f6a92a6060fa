"""One exception type for bad input, so the entrypoint can print one readable line instead of a traceback."""


class ConfigError(ValueError):
    """Bad user input: the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: object = None, allowed: str | None = None):
        self.key, self.value, self.allowed = key, value, allowed
        # OmegaConf re-raises an error from a schema as its own type with the message alone
        super().__init__(key if allowed is None else f"{key}={value!r}: {allowed}")


class ForeignFolder(ConfigError):
    """A job's folder holds another config's results or progress: reported, and nothing there is overwritten."""
