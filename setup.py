"""Package discovery only; all metadata lives in pyproject.toml.

`plugins/` is installed as the import package `usam_plugins` (package-dir), so that no bare top-level
`plugins` module is created; setuptools' declarative `packages.find` cannot express that mapping for
sub-packages, hence this file.
"""

from setuptools import find_packages, setup

core = find_packages(".", include=["usam_toolkit", "usam_toolkit.*"])
builtin = ["usam_plugins"] + [f"usam_plugins.{p}" for p in find_packages("plugins")]
setup(packages=core + builtin)
