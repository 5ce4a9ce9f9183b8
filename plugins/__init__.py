"""The built-in plugins of usam_toolkit, installed as the import package ``usam_plugins``.

Each sub-package registers one kind of component through its ``usam_register_<kind>`` hook; the core
lists them in :data:`usam_toolkit.plugins.BUILTIN_PLUGINS`.
"""
