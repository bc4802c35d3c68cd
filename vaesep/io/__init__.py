"""Plumbing every stage uses: audio read/write/resample (``audio``), files written whole or not
at all (``atomic``), progress bars (``progress``), worker processes (``workers``) and the torch
device (``device``). Imports nothing of vaesep but its errors."""
