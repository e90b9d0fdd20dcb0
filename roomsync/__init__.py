"""roomsync: keep a Matrix homeserver's rooms and spaces in git."""

__version__ = "0.1.0"
