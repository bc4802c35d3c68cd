"""The one exception type for user errors: the CLI turns it into one line on stderr, exit 2."""

import logging

log = logging.getLogger("vaesep")


class VaesepError(Exception):
    """A user error: the message names the file or key at fault and how to fix it."""
