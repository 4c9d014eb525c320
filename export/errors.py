"""The one error type the CLI turns into a clean message and a non-zero exit (no traceback)."""


class ExportError(Exception):
    """A problem the user can fix (bad weights file, no network, unwritable repository, ...)."""
