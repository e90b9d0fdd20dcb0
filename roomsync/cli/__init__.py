"""The command line: thin click commands that load, plan, apply and render; errors become exit codes.

Exit codes: 0 success, 1 any error (config, network, permission, partial
failure, usage), 2 only for `plan --detailed-exitcode` with changes pending.

main.py holds the group and run(), the entry point; each other module one family of commands.
"""

from .main import main, run

__all__ = ["main", "run"]
