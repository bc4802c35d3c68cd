"""From a trained model and a recording to separated sources: the mono ``separator`` and its
table of ``estimators`` (per source, NMF, test-time ``inference`` of generative priors), the
multichannel ``demixer`` (``bss``: AuxIVA/ILRMA, ``mvae``), the ``oracle_separator``, loading
any experiment dir's separator (``loading``), ONNX export and runtime (``onnx_export``,
``onnx_runtime``), and the ``separate`` command's ``inputs`` and ``outputs``."""
