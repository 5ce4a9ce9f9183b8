"""Hook specifications: the one file a plugin author reads.

A plugin is a module (or object) with functions decorated by :data:`hookimpl`, named after the hooks
below. Each hook receives a ``register`` callback bound to one kind of component::

    from usam_toolkit import hookimpl

    @hookimpl
    def usam_register_encoders(register):
        register("my_encoder", build_my_encoder, MyEncoderConfig, aliases=("myenc",))

``register(name, build_fn, config_cls, *, aliases=(), requires=(), example=None)`` (typed as
:class:`RegisterFn`):

- ``name``: lower_snake, stable forever (it is stored in checkpoints and tables).
- ``build_fn(cfg, ctx)`` (:data:`BuildFn`): gets the validated config dataclass instance and a
  :class:`usam_toolkit.interfaces.BuildContext`; returns the component, which must follow its kind's
  protocol in :mod:`usam_toolkit.interfaces` (``Encoder``, ``Projector``, ``LanguageModel``, ``Loss``,
  ``Metric``, ``Task``, ``Preparer``): the registry checks it after every build and names the plugin, its
  distribution, the recipe slot and the missing members otherwise. Import heavy modules inside it.
- ``config_cls``: a dataclass whose fields are the component's recipe keys (defaults = the paper's).
- ``requires``: importable module names the component needs at build time; missing ones are listed
  by ``usam list-plugins`` instead of failing at import.
- ``example`` (:data:`ExampleFn`): ``example(tmp_dir) -> dict`` returning config overrides that build a
  tiny instance (writing any files it needs under ``tmp_dir``); the conformance suite builds every
  component with it.

Encoders never freeze or adapt themselves: every encoder slot takes ``mode: frozen | lora | trainable``
(default ``frozen``) and ``lora: {...}``, and the core applies them to the built encoder (see
:func:`usam_toolkit.model.train_mode.apply_encoder_mode`), whether the config declares those fields or not.

Third-party packages expose their plugin module through the entry-point group ``usam_toolkit``::

    [project.entry-points.usam_toolkit]
    my_plugin = "my_pkg.plugin"

``usam_register_recipe_dirs(register)`` takes ``register(path)`` for folders of recipes that ``base:``
may name without a path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import pluggy

from .interfaces import BuildContext

PROJECT = "usam_toolkit"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

#: ``build_fn(cfg, ctx) -> component``: the config dataclass instance and the build context.
BuildFn = Callable[[Any, BuildContext], Any]
#: ``example(tmp_dir) -> overrides`` that build a tiny instance (files go under ``tmp_dir``).
ExampleFn = Callable[[Path], dict[str, Any]]


class RegisterFn(Protocol):
    """The ``register`` callback each ``usam_register_<kind>`` hook receives (bound to that kind)."""

    def __call__(
        self,
        name: str,
        build_fn: BuildFn,
        config_cls: type,
        *,
        aliases: Sequence[str] = (),
        requires: Sequence[str] = (),
        example: ExampleFn | None = None,
    ) -> None:
        """Register component ``name`` of this hook's kind (see the module docstring for each argument)."""
        ...


class RegisterRecipeDirFn(Protocol):
    """The ``register`` callback of ``usam_register_recipe_dirs``."""

    def __call__(self, path: str | Path) -> None:
        """Register a folder of recipes that ``base:`` may name by file name alone."""
        ...


@hookspec
def usam_register_encoders(register: RegisterFn) -> None:
    """Register audio encoders (``nn.Module`` following :class:`~usam_toolkit.interfaces.Encoder`)."""


@hookspec
def usam_register_projectors(register: RegisterFn) -> None:
    """Register projectors (:class:`~usam_toolkit.interfaces.Projector`: links between fusion and the LLM)."""


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
    """Register tasks (:class:`~usam_toolkit.interfaces.Task`: prompts, targets, metrics, normalisation)."""


@hookspec
def usam_register_datasets(register: RegisterFn) -> None:
    """Register corpus preparers used by ``usam prepare`` (:class:`~usam_toolkit.interfaces.Preparer`)."""


@hookspec
def usam_register_recipe_dirs(register: RegisterRecipeDirFn) -> None:
    """Register folders of recipes that ``base:`` can name by file name alone."""
