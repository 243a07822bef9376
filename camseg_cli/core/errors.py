"""The one exception type core code raises; the CLI catches it once and prints one line."""


class CamsegError(Exception):
    """A problem the user can fix: the message says what went wrong and what to do."""
