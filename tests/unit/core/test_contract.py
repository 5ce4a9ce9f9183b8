"""The typed plugin contract: protocol checks at build, the core applying an encoder's ``mode``, and an
unknown name that mentions the plugins that failed to load."""

from __future__ import annotations

import types
from dataclasses import dataclass

import pytest

from usam_toolkit import hookimpl
from usam_toolkit.errors import ConfigError, UnknownComponentError
from usam_toolkit.hookspecs import RegisterFn
from usam_toolkit.interfaces import (
    PROTOCOLS,
    BuildContext,
    Encoder,
    Projector,
    missing_members,
    protocol_members,
)
from usam_toolkit.plugins import load_registry
from usam_toolkit.registry import LoadFailure, Provider, Registry

torch = pytest.importorskip("torch")
nn = torch.nn


# ----------------------------------------------------------------------------------- a third party's
@dataclass
class PlainEncoderConfig:
    """A third-party encoder config: no ``mode`` field, and its build function freezes nothing."""

    dim: int = 4


class PlainEncoder(nn.Module):
    """What a plugin author writes from the docs: a Linear over 10 ms frames, with dropout."""

    sample_rate = 16000
    frame_rate = 100.0

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.output_dim = dim
        self.proj = nn.Linear(160, dim)
        self.drop = nn.Dropout(0.5)

    def forward(self, audio, audio_lengths):  # noqa: ANN001, ANN201
        from usam_toolkit.interfaces import EncoderOutput

        frames = audio[:, : audio.shape[1] // 160 * 160].reshape(audio.shape[0], -1, 160)
        return EncoderOutput(self.drop(self.proj(frames)), audio_lengths // 160, self.frame_rate)

    def fingerprint(self) -> str:
        return "plain"


def build_plain(cfg: PlainEncoderConfig, ctx: BuildContext) -> PlainEncoder:
    return PlainEncoder(cfg.dim)


@hookimpl
def usam_register_encoders(register: RegisterFn) -> None:
    register("plain_enc", build_plain, PlainEncoderConfig)


def _plugin() -> types.ModuleType:
    module = types.ModuleType("plain_plugin")
    module.usam_register_encoders = usam_register_encoders  # type: ignore[attr-defined]
    return module


@pytest.fixture(scope="module")
def reg() -> Registry:
    return load_registry([_plugin()], entry_points=False)


# ------------------------------------------------------------------------------- core applies mode
def test_the_core_freezes_a_third_party_encoder_by_default(reg: Registry) -> None:
    enc = reg.build("encoders", {"name": "plain_enc"}, BuildContext(), "encoders[0]")
    assert not any(p.requires_grad for p in enc.parameters())
    assert not enc.training


def test_the_slot_mode_reaches_an_encoder_whose_config_does_not_declare_it(reg: Registry) -> None:
    reg.make_config("encoders", {"name": "plain_enc", "mode": "trainable"}, "encoders[0]")  # usam validate
    enc = reg.build("encoders", {"name": "plain_enc", "mode": "trainable"}, BuildContext(), "encoders[0]")
    assert all(p.requires_grad for p in enc.parameters())
    pytest.importorskip("peft")
    lora = reg.build(
        "encoders",
        {"name": "plain_enc", "mode": "lora", "lora": {"rank": 2, "target_modules": ["proj"]}},
        BuildContext(),
        "encoders[0]",
    )
    trainable = [n for n, p in lora.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_bad_mode_or_lora_names_the_slot(reg: Registry) -> None:
    with pytest.raises(
        ConfigError, match=r"encoders\[2\]\.mode: 'partly' is not valid; choose one of frozen"
    ):
        reg.make_config("encoders", {"name": "plain_enc", "mode": "partly"}, "encoders[2]")
    with pytest.raises(ConfigError, match=r"encoders\[2\]\.lora: unknown key\(s\) rnak; valid: rank"):
        reg.make_config("encoders", {"name": "plain_enc", "lora": {"rnak": 4}}, "encoders[2]")
    with pytest.raises(ConfigError, match="'modee' is not a field.*Did you mean 'mode'"):
        reg.make_config("encoders", {"name": "plain_enc", "modee": "frozen"}, "encoders[2]")


def test_a_frozen_encoder_stays_in_eval_when_the_model_trains(reg: Registry) -> None:
    from usam_toolkit.model.audio_llm import AudioLLM

    frozen = reg.build("encoders", {"name": "plain_enc"}, BuildContext(), "encoders[0]")
    trained = reg.build("encoders", {"name": "plain_enc", "mode": "trainable"}, BuildContext(), "encoders[1]")
    model = AudioLLM([frozen, trained], nn.Identity(), [nn.Linear(2, 2)], nn.Identity(), [], [], [], {})
    model.train()
    assert not frozen.training and not frozen.drop.training
    assert trained.training and model.projectors[0].training
    model.eval()
    assert not trained.training


def test_built_in_encoders_keep_their_mode_fields_and_the_core_applies_them() -> None:
    """A config may declare ``mode`` (built-ins do: the fingerprint holds it); the core still applies it."""
    reg = load_registry(entry_points=False)
    tiny = {"name": "conv_transformer", "dim": 8, "layers": 1, "heads": 2, "n_mels": 8}
    entry, cfg = reg.make_config("encoders", {**tiny, "mode": "trainable"}, "encoders[0]")
    assert cfg.mode == "trainable" and entry.core_keys == ()
    enc = reg.build("encoders", {**tiny, "mode": "trainable"}, BuildContext(), "encoders[0]")
    assert all(p.requires_grad for p in enc.parameters())
    assert not any(
        p.requires_grad for p in reg.build("encoders", tiny, BuildContext(), "encoders[0]").parameters()
    )


# ---------------------------------------------------------------------------- protocol at build time
def test_protocols_declare_what_the_core_uses() -> None:
    assert set(PROTOCOLS) == {"encoders", "projectors", "llms", "losses", "metrics", "tasks", "datasets"}
    assert {"output_dim", "frame_rate", "sample_rate", "__call__", "fingerprint"} <= set(
        protocol_members(Encoder)
    )
    assert "output_frame_rate" in protocol_members(Projector)
    task = set(protocol_members(PROTOCOLS["tasks"]))
    assert {"num_prompt_variants", "timestamps", "references", "target", "training_text"} <= task


@dataclass
class NoConfig:
    pass


class RateLessProjector(nn.Module):
    """A projector that forgot ``output_frame_rate``."""

    output_dim = 4

    def forward(self, features, lengths, frame_rate, context):  # noqa: ANN001, ANN201
        return features


def test_a_build_that_breaks_the_protocol_names_plugin_distribution_slot_and_members() -> None:
    reg = Registry()
    reg.register_fn("projectors", Provider("acme_proj", "acme-usam", "1.2"))(
        "rateless", lambda cfg, ctx: RateLessProjector(), NoConfig
    )
    with pytest.raises(ConfigError) as err:
        reg.build("projectors", {"name": "rateless"}, BuildContext(), "projectors[1]")
    msg = str(err.value)
    assert msg.startswith("projectors[1]: projector 'rateless' from plugin acme_proj (acme-usam 1.2)")
    assert "usam_toolkit.interfaces.Projector: missing output_frame_rate" in msg
    assert missing_members(RateLessProjector(), Projector) == ["output_frame_rate"]


def test_an_encoder_that_is_not_a_module_is_refused() -> None:
    class NotAModule:
        output_dim, frame_rate, sample_rate = 4, 100.0, 16000

        def __call__(self, audio, audio_lengths):  # noqa: ANN001, ANN204
            return None

        def fingerprint(self) -> str:
            return ""

    reg = Registry()
    reg.register_fn("encoders", Provider("p", "d", "1"))("odd", lambda cfg, ctx: NotAModule(), NoConfig)
    with pytest.raises(ConfigError, match=r"encoders\[0\]: encoder 'odd' .* it is not a torch.nn.Module"):
        reg.build("encoders", {"name": "odd"}, BuildContext(), "encoders[0]")


def test_every_built_in_example_follows_its_protocol(tmp_path) -> None:  # noqa: ANN001
    """Cheap kinds only (no model weights): tasks, losses and the light projectors and metrics."""
    from usam_toolkit.testing import build_example

    reg = load_registry(entry_points=False)
    for kind, names in {
        "tasks": ["asr", "s2tt", "aac", "mc"],
        "losses": ["cross_entropy", "aux", "tapm_balance", "infonce"],
        "projectors": ["linear", "mlp", "conv_downsample", "tapm"],
        "datasets": ["librispeech", "clotho"],
        "metrics": ["bleu", "chrf"],
    }.items():
        for name in names:
            built = build_example(kind, name, tmp_path, reg, input_dim=8, llm_dim=8, prompt_dim=8)
            assert missing_members(built, PROTOCOLS[kind]) == [], (kind, name)


# ------------------------------------------------------------------ unknown name, failed plugin
def test_unknown_name_mentions_a_plugin_of_that_name_that_failed_to_load(reg: Registry) -> None:
    broken = Registry()
    broken.failures.append(
        LoadFailure("my_enc", "usam-my-enc", "0.1", "import", "ModuleNotFoundError: librosa")
    )
    broken.failures.append(LoadFailure("other", "usam-other", "2", "register", "ValueError: bad"))
    with pytest.raises(UnknownComponentError) as err:
        broken.get("encoders", "my_enc", "encoders[0]")
    msg = str(err.value)
    assert msg.startswith("encoders[0]: unknown encoder 'my_enc'.")
    assert (
        "A plugin that may provide encoder 'my_enc' failed to load: plugin 'my_enc' (usam-my-enc 0.1) "
        "failed at import: ModuleNotFoundError: librosa" in msg
    )
    assert msg.index("usam-my-enc") < msg.index("usam-other")  # the likely provider first


def test_unknown_name_lists_failed_plugins_even_without_a_name_match() -> None:
    broken = Registry()
    broken.failures.append(LoadFailure("acme", "acme-encoders", "1", "import", "ImportError: no torchvision"))
    with pytest.raises(
        UnknownComponentError,
        match=r"Plugins that failed to load \(one may provide encoder "
        r"'mfcc_lstm'\): plugin 'acme' \(acme-encoders 1\) failed at import: ImportError",
    ):
        broken.get("encoders", "mfcc_lstm")
    with pytest.raises(UnknownComponentError) as err:
        Registry().get("encoders", "mfcc_lstm")
    assert "failed to load" not in str(err.value)


def test_register_is_typed_and_checks_its_callables() -> None:
    from usam_toolkit.errors import PluginError

    register = Registry().register_fn("losses", Provider("p", "d", "1"))
    with pytest.raises(PluginError, match="build function of loss 'x' is not callable"):
        register("x", "not a function", NoConfig)  # type: ignore[arg-type]


def test_a_plugin_that_fails_to_register_is_named_when_its_encoder_is_asked_for() -> None:
    def raising(register: RegisterFn) -> None:
        raise RuntimeError("librosa is not installed")

    module = types.ModuleType("mfcc_lstm")
    module.usam_register_encoders = hookimpl(raising)  # type: ignore[attr-defined]
    with pytest.warns(UserWarning, match="mfcc_lstm"):
        reg = load_registry([module], entry_points=False)
    with pytest.raises(UnknownComponentError) as err:
        reg.make_config("encoders", {"name": "mfcc_lstm"}, "encoders[0]")
    assert (
        "A plugin that may provide encoder 'mfcc_lstm' failed to load: plugin 'mfcc_lstm' (local 0) "
        "failed at register: RuntimeError: librosa is not installed" in str(err.value)
    )
