"""Radix core (docs/codings.md §3): the bit-serial core with θ = 2^(ΔT+T) (`bitserial.py`)."""
from .bitserial import NeuronCore, state_layout  # noqa: F401
