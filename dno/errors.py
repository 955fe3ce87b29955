"""One exception type for every user-facing failure: the CLI prints its message on one line and exits 2."""


class DnoError(Exception):
    """Bad input or an unusable environment. The message names the file, line or field at fault."""


def redact(text: str) -> str:
    """`text` with the user:password part of any URL in it masked, for messages and logs."""
    import re

    return re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@", r"\1***@", text)
