"""A plugin package that fails on import."""
