"""One exception type for every user-facing failure: the CLI prints its message on one line and exits 2."""


class DnoError(Exception):
    """Bad input or an unusable environment. The message names the file, line or field at fault."""
