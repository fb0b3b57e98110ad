"""Command-line flows: `python -m flows.build`, `python -m flows.simulate`, ...

Started as a command (`python -m flows.<name>`: Python names the module "-m" while it
imports the package), an interrupt that comes before the command's own handling (while
PyTorch and Amaranth load, a second or two) ends as the command's would: one line, exit
status 130, no traceback. Imported as a library, nothing changes.
"""
import os
import sys

INTERRUPTED = 130       # the shell's status for a process ended by SIGINT (flows.common)


def _quiet_interrupt(kind, value, traceback) -> None:
    if issubclass(kind, KeyboardInterrupt):
        print(str(value) or "interrupted; nothing was written", file=sys.stderr, flush=True)
        os._exit(INTERRUPTED)
    sys.__excepthook__(kind, value, traceback)


if sys.argv[:1] == ["-m"]:
    sys.excepthook = _quiet_interrupt
