"""One exception type for bad input, so the entrypoint can print one readable line instead of a traceback."""


class ConfigError(ValueError):
    """Bad user input: the message names the key, the value and what is allowed."""

    def __init__(self, key: str, value: object = None, allowed: str | None = None):
        self.key, self.value, self.allowed = key, value, allowed
        # OmegaConf re-raises an error from a schema as its own type with the message alone
        super().__init__(key if allowed is None else f"{key}={value!r}: {allowed}")


class ForeignFolder(ConfigError):
    """A job's folder holds another config's results or progress: reported, and nothing there is overwritten."""


def require(ok: bool, key: str, value: object, allowed: str) -> None:
    """The one check every schema makes: unless ``ok``, the ConfigError naming the key, its value and what is allowed."""
    if not ok:
        raise ConfigError(key, value, allowed)


def one_of(key: str, value: object, options) -> None:
    require(value in options, key, value, f"allowed: {', '.join(map(str, options))}")


def integer(key: str, value: object, low: int = 1, high: int | None = None, null: bool = False) -> None:
    """An integer (never a bool) from ``low`` (to ``high``), or None where ``null`` allows it."""
    ok = (null and value is None) or (
        isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)
    )
    span = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    require(ok, key, value, span + " or null" * null)


def number(
    key: str, value: object, low: float, high: float, low_open: bool = False, high_open: bool = False, allowed: str = ""
) -> None:
    """A finite number (never a bool) in the interval from ``low`` to ``high``, each end open or closed."""
    import math

    ok = (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and (low < value if low_open else low <= value)
        and (value < high if high_open else value <= high)
    )
    require(
        ok, key, value, allowed or f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    )
