"""Example third-party plugin package for usam_toolkit."""
