"""Hook specifications: the one file a plugin author reads.

A plugin is a module (or object) with functions decorated by :data:`hookimpl`, named after the hooks
below. Each hook receives a ``register`` callback bound to one kind of component::

    from usam_toolkit import hookimpl

    @hookimpl
    def usam_register_encoders(register):
        register("my_encoder", build_my_encoder, MyEncoderConfig, aliases=("myenc",))

``register(name, build_fn, config_cls, *, aliases=(), requires=(), example=None)``:

- ``name``: lower_snake, stable forever (it is stored in checkpoints and tables).
- ``build_fn(cfg, ctx)``: gets the validated config dataclass instance and a
  :class:`usam_toolkit.interfaces.BuildContext`; returns the component. Import heavy modules inside it.
- ``config_cls``: a dataclass whose fields are the component's recipe keys (defaults = the paper's).
- ``requires``: importable module names the component needs at build time; missing ones are listed
  by ``usam list-plugins`` instead of failing at import.
- ``example``: ``example(tmp_dir) -> dict`` returning config overrides that build a tiny instance
  (writing any files it needs under ``tmp_dir``); the conformance suite builds every component with it.

Third-party packages expose their plugin module through the entry-point group ``usam_toolkit``::

    [project.entry-points.usam_toolkit]
    my_plugin = "my_pkg.plugin"

``usam_register_recipe_dirs(register)`` takes ``register(path)`` for folders of recipes that ``base:``
may name without a path.
"""

from __future__ import annotations

from typing import Callable

import pluggy

PROJECT = "usam_toolkit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

RegisterFn = Callable[..., None]


@hookspec
def usam_register_encoders(register: RegisterFn) -> None:
    """Register audio encoders (``nn.Module`` following :class:`~usam_toolkit.interfaces.Encoder`)."""


@hookspec
def usam_register_projectors(register: RegisterFn) -> None:
    """Register projectors (links of the chain between fusion and the LLM)."""


@hookspec
def usam_register_llms(register: RegisterFn) -> None:
    """Register language-model backbones (:class:`~usam_toolkit.interfaces.LanguageModel`)."""


@hookspec
def usam_register_losses(register: RegisterFn) -> None:
    """Register training losses (:class:`~usam_toolkit.interfaces.Loss`)."""


@hookspec
def usam_register_metrics(register: RegisterFn) -> None:
    """Register corpus scorers (:class:`~usam_toolkit.interfaces.Metric`)."""


@hookspec
def usam_register_tasks(register: RegisterFn) -> None:
    """Register tasks (prompts, default metrics, normalisation)."""


@hookspec
def usam_register_datasets(register: RegisterFn) -> None:
    """Register corpus preparers used by ``usam prepare``."""


@hookspec
def usam_register_recipe_dirs(register: Callable[[str], None]) -> None:
    """Register folders of recipes that ``base:`` can name by file name alone."""
