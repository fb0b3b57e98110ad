"""Board targets for `python -m flows.build --board NAME` (a registry: name → target)."""
from .targets import TARGETS, get_target

__all__ = ["TARGETS", "get_target"]
