"""The one exception type core code raises; the CLI catches it once and prints one line."""


class CamsegError(Exception):
    """A problem the user can fix: the message says what went wrong and what to do."""

    def __init__(self, message: object = "", *args: object):
        # A DataLoader worker re-raises as CamsegError("Caught CamsegError in DataLoader worker process
        # 0.\nOriginal Traceback ...\n...CamsegError: <message>"); keep only the message the user needs.
        text, tag = str(message), f"{type(self).__name__}: "
        if text.startswith(f"Caught {type(self).__name__} in DataLoader worker") and tag in text:
            message = text.rsplit(tag, 1)[1].strip()
        super().__init__(message, *args)
