"""The ``disdiff`` command. Sub-commands live in one module per noun; every heavy import
(torch, timm, zarr, even the core's pydantic models) happens inside the command that needs it,
so ``disdiff --help`` stays instant."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from disdiff_cli.console import err


class DisdiffGroup(TyperGroup):
    """Top-level group: a user error raised anywhere below (a DisdiffError, or an OSError such
    as a missing folder, a file where a folder should be, no permission or a full disk) becomes
    one clear message on stderr and exit code 1, never a traceback. Click's own exceptions
    (usage errors, exits, aborts) pass through; any other exception is a bug: a short message
    saying so, the traceback in a log file (:mod:`disdiff_cli.crash`) and exit code 2."""

    def invoke(self, ctx: Any) -> Any:
        from disdiff_core.errors import DisdiffError

        try:
            return super().invoke(ctx)
        except DisdiffError as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}")
            raise typer.Exit(code=1) from None
        except BrokenPipeError:  # `disdiff … | head`: the reader left; nothing to report
            _silence_stdout()
            raise typer.Exit(code=1) from None
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            err.print(f"[bold red]error:[/] {escape((exc.strerror or str(exc)) + where)}")
            raise typer.Exit(code=1) from None
        except (typer.TyperException, typer.Exit, typer.Abort):  # usage errors, exits
            raise
        except Exception as exc:  # noqa: BLE001 - the last stop of every bug
            from disdiff_cli.crash import BUG_EXIT_CODE, report_bug

            report_bug(exc)
            raise typer.Exit(code=BUG_EXIT_CODE) from None


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush into the closed pipe does
    not print an error of its own (Python's documented way out of a broken pipe)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout without a file descriptor (a test's capture)
        pass


app = typer.Typer(
    cls=DisdiffGroup,
    name="disdiff",
    help="Disentangle pre-trained diffusion models (DisDiff): data, training, editing, metrics.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from disdiff_cli.data_cmd import data_app
    from disdiff_cli.encode_cmd import encode
    from disdiff_cli.eval_cmd import eval_run
    from disdiff_cli.eval_codes_cmd import eval_codes
    from disdiff_cli.import_cmd import import_checkpoint
    from disdiff_cli.pipeline_cmd import pipeline
    from disdiff_cli.plugins_cmd import plugins_app
    from disdiff_cli.quickstart_cmd import quickstart
    from disdiff_cli.recipe_cmd import recipe_app
    from disdiff_cli.runs_cmd import runs_app
    from disdiff_cli.sample_cmd import sample
    from disdiff_cli.train_cmd import train

    app.command("quickstart")(quickstart)
    app.command("train")(train)
    app.command("pipeline")(pipeline)
    app.command("eval")(eval_run)
    app.command("eval-codes")(eval_codes)
    app.command("encode")(encode)
    app.command("sample")(sample)
    app.command("import")(import_checkpoint)
    app.add_typer(data_app, name="data")
    app.add_typer(runs_app, name="runs")
    app.add_typer(recipe_app, name="recipe")
    app.add_typer(plugins_app, name="plugins")


_register()


def main() -> None:
    """Console-script entry point."""
    app()
