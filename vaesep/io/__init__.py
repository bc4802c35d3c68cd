"""Plumbing every stage uses: audio read/write/resample (``audio``), files written whole or not
at all (``atomic``), YAML files (``yamlfile``), ``--set`` overrides (``overrides``), progress
bars (``progress``), worker processes (``workers``), the torch device (``device``) and SIGTERM
as a clean stop (``signals``). Imports nothing of vaesep but its errors and version."""
