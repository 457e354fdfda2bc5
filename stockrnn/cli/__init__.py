"""The `stockrnn` command line: parse, call the public API, render with rich, map errors to exit codes.

entry.py is the console script (signal handlers first); commands.py is the Typer app with every
command registered; app.py holds what every command shares; each other module registers commands.
Nothing is imported here, so the entry point runs before any heavy import.
"""
