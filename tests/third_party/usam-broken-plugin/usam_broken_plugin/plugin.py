"""Fails on import, as a plugin with a missing dependency would."""

raise ImportError("usam_broken_plugin needs the package 'imaginary_dep', which is not installed")
