"""From separations to results: per-utterance ``metrics`` (BSS Eval, SI-SDR, PESQ/STOI),
``evaluation`` of a separator on a data dir, ``pooling`` eval dirs and claims, ``stats``
(intervals), ``reports`` (RESULTS.md, violins), ``provenance``, and ``runs`` over seeds."""
