"""The disdiff command-line interface (Typer + rich); thin: parse, call the core, render."""
