"""The models: one module per model type, each with its config section.

The registry that names them (and says how each is trained and used) is
:mod:`vaesep.registry`; the interface they implement is :mod:`vaesep.models.base`.
"""
