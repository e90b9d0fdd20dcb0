"""roomsync: keep a Matrix homeserver's rooms and spaces in git."""

FALLBACK_VERSION = "0.0"  # pyproject.toml's fallback-version: the version is not known


def __getattr__(name: str) -> str:
    # __version__ is the installed distribution's, which the build took from the git tag. It is
    # read on first use: importlib.metadata costs more to import than `roomsync --help` should pay.
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("roomsync")
        except PackageNotFoundError:  # a source tree on sys.path that was never installed
            return FALLBACK_VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
