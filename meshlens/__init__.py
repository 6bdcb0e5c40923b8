"""MeshLens composition root: the `meshlens` command, the all-in-one runner, settings."""

from meshlens.settings import Settings, SettingsError, load_settings

__all__ = ["Settings", "SettingsError", "load_settings"]
