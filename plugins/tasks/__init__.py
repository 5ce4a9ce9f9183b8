"""Built-in tasks: asr, s2tt, aac, mc (prompt templates in :mod:`usam_plugins.tasks.base`)."""

from __future__ import annotations

from usam_toolkit.hookspecs import RegisterFn, hookimpl


def _no_overrides(tmp_dir) -> dict:
    return {}


@hookimpl
def usam_register_tasks(register: RegisterFn) -> None:
    """Register the built-in tasks."""
    from .asr import AsrConfig, build_asr
    from .captioning import AacConfig, McConfig, build_aac, build_mc
    from .s2tt import S2ttConfig, build_s2tt

    register("asr", build_asr, AsrConfig, example=_no_overrides)
    register("s2tt", build_s2tt, S2ttConfig, example=lambda tmp_dir: {"target_lang": "zh"})
    register("aac", build_aac, AacConfig, example=_no_overrides)
    register("mc", build_mc, McConfig, example=_no_overrides)
