"""Fitting a config's models on a data dir into an experiment dir: the entry point and its
table of fits (``experiment``), the gradient loop (``gradient``), the fits without gradients
(``fitting``), training examples (``segments``) and their augmentation (``augment``), joint and
weakly supervised training (``joint``) and the conditional VAE of MVAE (``conditional``)."""
