"""The exit statuses of every ``hifacegan`` command (README.md, "Exit status"), named once.

A command that could not start (a bad argument, option or config file, a model that is not shipped,
missing or unloadable, a missing optional package) exits :data:`EXIT_USAGE`, whichever command it is: the
fix is in the command line, and nothing was tried. A command that ran but could process nothing exits
:data:`EXIT_FAILED`; one that processed something exits 0 even when some inputs failed (each has its
message).
"""

from __future__ import annotations

__all__ = ["EXIT_FAILED", "EXIT_NONFINITE", "EXIT_USAGE"]

EXIT_FAILED = 1
EXIT_USAGE = 2
#: ``hifacegan train`` stopped because the losses or weights became NaN/inf.
EXIT_NONFINITE = 3
