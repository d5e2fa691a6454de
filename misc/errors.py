"""The one exception type whose message the driver shows alone, without a traceback."""
from __future__ import annotations


class PipelineError(Exception):
    """A problem the user can act on: the message names the file and says what to do."""
