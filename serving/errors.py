"""The one error type the launcher reports to the user: a message that says what failed and what to do."""


class ServingError(Exception):
    """A failure the user can act on; `python -m serving` prints it and exits non-zero."""
