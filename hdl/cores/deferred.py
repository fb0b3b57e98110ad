"""Deferred-fire core (docs/codings.md §5, Eq. 8-9): the bit-serial core (`bitserial.py`):
accumulate with left shifts over all input steps, then extract bits MSB first with
s(t) = [u ≥ θ/2^t], u -= s(t)·θ/2^t."""
from .bitserial import NeuronCore, state_layout  # noqa: F401
