"""The models: one module per model type, each with its config section, and what they share
(``base``: the interface, ``layers``, ``recurrent``, ``divergences``, ``masks``: the soft
masks of eq. 90 that joint training and separation both apply).

The registry that names them (and says how each is trained and used) is
:mod:`vaesep.registry`; the interface they implement is :mod:`vaesep.models.base`.
"""
