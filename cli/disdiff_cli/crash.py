"""What the CLI does with an exception that is not a user error, i.e. a bug in disdiff.

A traceback means nothing to a user and hides the one thing they need to know (that it is not
their fault), so they get a short message; the traceback goes to a log file they can attach to a
report. The file goes into the run folder the command was working on, when there is one, so
that it stays with the run it concerns; otherwise into the temp folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from types import TracebackType

from rich.markup import escape

from disdiff_cli.console import err

#: Exit code of a bug (user errors exit 1, click's usage errors 2 as well, with "Usage:").
BUG_EXIT_CODE = 2
#: The exception's message in the short report is its first line, cut to this many characters
#: (a pydantic or numpy message can run to pages; the log has all of it).
SUMMARY_CHARS = 200


def report_bug(exc: BaseException) -> None:
    """Print the short message for an unexpected exception, having written its traceback."""
    log = write_crash_log(exc)
    first_line = next(iter(str(exc).strip().splitlines()), "")
    summary = escape(f"{type(exc).__name__}: {first_line[:SUMMARY_CHARS]}")
    err.print(f"[bold red]error:[/] this is a bug in disdiff, not a problem with your input "
              f"({summary}).")
    if log is not None:
        err.print(f"The full traceback is in {escape(str(log))}; please include that file when "
                  "you report the bug.")
    else:  # no folder would take the log: the traceback is the only record left
        err.print("No log file could be written; the traceback follows.")
        err.print(escape("".join(traceback.format_exception(exc))), end="")


def write_crash_log(exc: BaseException) -> Path | None:
    """Write the traceback (and what ran) to ``disdiff-crash-<time>-<pid>.log`` in the run
    folder of the failing command, else in the temp folder; None when neither is writable."""
    import disdiff_core

    stamp = time.strftime("%Y%m%d-%H%M%S")
    text = (f"disdiff {disdiff_core.__version__}, Python {sys.version.split()[0]}, {stamp}\n"
            f"command: {' '.join(sys.argv)}\n\n" + "".join(traceback.format_exception(exc)))
    name = f"disdiff-crash-{stamp}-{os.getpid()}.log"
    for folder in (run_folder(exc.__traceback__), Path(tempfile.gettempdir())):
        if folder is None:
            continue
        try:
            (folder / name).write_text(text, encoding="utf-8")
        except OSError:
            continue
        return folder / name
    return None


def run_folder(tb: TracebackType | None) -> Path | None:
    """The run folder the failing command worked on, read from the traceback: in the
    outermost disdiff frame that holds one, a ``Run`` or a path to a folder with ``run.json``.

    Outermost, because it is the command's own run (``disdiff sample RUN``) and deeper frames
    may hold the earlier runs it builds on (a ``from_run`` backbone). Read from the traceback
    so that no command has to announce its run folder beforehand.
    """
    from disdiff_core.runs import RUN_FILE, Run

    while tb is not None:
        frame = tb.tb_frame
        if frame.f_globals.get("__name__", "").startswith("disdiff"):
            for value in list(frame.f_locals.values()):
                path = value.path if isinstance(value, Run) else value
                if isinstance(path, Path) and (path / RUN_FILE).is_file():
                    return path
        tb = tb.tb_next
    return None
