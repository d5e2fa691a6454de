"""The one exception type whose message the driver shows alone, without a traceback."""
from __future__ import annotations


class PipelineError(Exception):
    """A problem the user can act on: the message names the file and says what to do."""


def close_progress_bars() -> None:
    """Close every open tqdm bar, so an error line printed next starts on a line of its own instead of in the
    middle of a bar (a bar interrupted by an exception stays open while the traceback holds its loop)."""
    import sys

    tqdm = sys.modules.get("tqdm")
    for bar in list(getattr(getattr(tqdm, "tqdm", None), "_instances", ()) or ()):
        bar.close()
