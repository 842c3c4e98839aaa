"""Interfaces (abstract base classes) of every plugin kind, one module per kind."""
