"""``ArchConfig``: the frozen, JSON-serialisable description of one SNN-ViT.

Every knob a search may touch lives here, so that a trial, a Ray config, an exported file and a registry
entry all reduce to the same object, the same canonical string and the same stable id.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

from snnas.errors import ConfigError, parse_failure, shown

__all__ = ["ArchConfig", "ACTIVE_WHEN", "ATTENTION_KINDS", "CONTROLS", "FIELD_DEFAULTS", "SURROGATES", "TOKENIZERS",
           "MAX_SIZES", "allow_attention_kind", "attention_kinds", "is_active"]

ATTENTION_KINDS = ("sssa", "ssa", "sdsa")
TOKENIZERS = ("sps", "gl_sps")
SSSA_VERSIONS = ("v1", "v2")
KAPPA_MODES = ("data", "learned")
FIXATION_MODES = ("per_head", "shared")
VTH_MODES = ("fixed", "scalar", "per_timestep")
SSSA_INFERENCE = ("train_rule", "folded")
TEMPORAL_MIXING = ("learned", "identity")
# Upper bounds of the size fields: far above any SNN-ViT (the largest registered one has T=16, width 512,
# depth 8, 224 px), low enough that a mistyped 10**9 in a space, an export or a config file is a one-line
# error instead of an attempt to allocate terabytes.
MAX_SIZES = {"T": 256, "depth": 128, "embed_dim": 8192, "num_heads": 512, "img_size": 2048, "in_channels": 1024,
             "num_classes": 100_000, "tokenizer_dilation": 64, "mlp_ratio": 64.0}
# Names map onto spikingjelly.activation_based.surrogate classes (see snnas.models.neurons).
SURROGATES = ("atan", "sigmoid", "rect", "erf", "piecewise_quadratic")
# The one table of conditional fields: a field shapes the network only when every (control, value) pair of its
# entry holds; otherwise ArchConfig resets it to its default, the space parser refuses a knob that can never
# matter, and the sampler does not ask it (so samplers see no noise dimensions).
ACTIVE_WHEN: dict[str, tuple[tuple[str, Any], ...]] = {
    **{name: (("attention", "sssa"),) for name in ("sssa_version", "saccades", "kappa", "fixation",
                                                    "sssa_inference", "temporal_mixing")},
    "vth_mode": (("attention", "sssa"), ("saccades", "threshold")),  # top-k ranks the salience: no threshold
    "vth_init": (("attention", "sssa"), ("saccades", "threshold")),
    "tokenizer_dilation": (("tokenizer", "gl_sps"),),
}
# The fields that switch others on or off, in the order a sampler must ask them (before what they control).
CONTROLS = tuple(dict.fromkeys(c for conds in ACTIVE_WHEN.values() for c, _ in conds))


def is_active(name: str, values: dict[str, Any]) -> bool:
    """Whether field ``name`` shapes the network given the other fields' ``values`` (a mapping of fields).

    Example:
        >>> is_active("saccades", {"attention": "ssa"}), is_active("depth", {})
        (False, True)
    """
    return all(values[c] == v for c, v in ACTIVE_WHEN.get(name, ()))


# The token mixers ArchConfig accepts: the built-ins, then any registered since. The registry lives with the
# layers (snnas.models.register_attention), which this ground floor cannot import, so registering lands here.
_ATTENTION_ALLOWED: dict[str, None] = dict.fromkeys(ATTENTION_KINDS)  # an ordered set


def allow_attention_kind(name: str, allowed: bool = True) -> None:
    """Make ``name`` a valid ``ArchConfig.attention`` (``allowed=False``: no longer); the built-ins always are.

    Called by :func:`snnas.models.register_attention` and ``unregister_attention``, which also provide the layer.
    """
    if allowed:
        _ATTENTION_ALLOWED[name] = None
    elif name not in ATTENTION_KINDS:
        _ATTENTION_ALLOWED.pop(name, None)


def attention_kinds() -> tuple[str, ...]:
    """The valid ``ArchConfig.attention`` values now: :data:`ATTENTION_KINDS`, then registered ones.

    Example:
        >>> attention_kinds()[:3]
        ('sssa', 'ssa', 'sdsa')
    """
    return tuple(_ATTENTION_ALLOWED)


@dataclass(frozen=True)
class ArchConfig:
    """Every architectural knob of an SNN-ViT (spec §2, §5).

    Fields that cannot affect the network (SSSA settings under ``attention="ssa"``, the threshold under
    top-k saccades, the dilation of a plain SPS tokenizer) are reset to their defaults, so equal networks
    have equal configs and ids. Numeric fields accept Python or numpy numbers.

    Example:
        >>> cfg = ArchConfig(T=2, depth=1, embed_dim=32, num_heads=2, img_size=16, patch_size=4)
        >>> ArchConfig.from_json(cfg.to_json()) == cfg
        True
        >>> cfg.num_tokens
        16
    """

    T: int = 4
    depth: int = 4
    embed_dim: int = 256
    num_heads: int = 8
    mlp_ratio: float = 4.0
    # tokenizer: Spikformer-style conv stages; the image is downsampled by patch_size (a power of two)
    tokenizer: str = "gl_sps"
    tokenizer_dilation: int = 2
    patch_size: int = 4
    # token mixer
    attention: str = "sssa"
    sssa_version: str = "v2"
    saccades: str | int = "threshold"  # "threshold" (the paper) or k fixated patches per step (extension)
    kappa: str = "data"
    fixation: str = "per_head"
    vth_mode: str = "per_timestep"
    vth_init: float = 1.0
    sssa_inference: str = "train_rule"
    temporal_mixing: str = "learned"  # "identity": M_w fixed to the identity, an ablation of the saccadic neuron
    # LIF neurons everywhere else
    neuron_tau: float = 2.0
    neuron_vth: float = 1.0
    surrogate: str = "atan"
    # data
    img_size: int = 32
    in_channels: int = 3
    num_classes: int = 10

    def __post_init__(self) -> None:
        # Optuna/Ray hand back ints for floats, floats for ints and numpy scalars; normalise so that equal
        # configs compare and hash equal whatever produced them.
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                continue
            if f.type == "float":
                object.__setattr__(self, f.name, float(v))
            elif f.type in ("int", "str | int") and float(v).is_integer():
                object.__setattr__(self, f.name, int(v))
        # Fields that cannot affect the network take their defaults, so equal networks get equal ids.
        given = {c: getattr(self, c) for c in CONTROLS}  # judged on the values given, before any reset
        for name in ACTIVE_WHEN:
            if not is_active(name, given):
                object.__setattr__(self, name, FIELD_DEFAULTS[name])
        self._validate()

    # ------------------------------------------------------------------ validation
    def _validate(self) -> None:
        def bad(field: str, why: str) -> ConfigError:
            return ConfigError(f"ArchConfig.{field}: {why} (got {shown(getattr(self, field))})")

        for name in ("T", "depth", "embed_dim", "num_heads", "patch_size", "img_size", "in_channels",
                     "num_classes", "tokenizer_dilation"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise bad(name, "must be a positive integer")
            if v > MAX_SIZES.get(name, v):
                raise bad(name, f"must be at most {MAX_SIZES[name]:,}")
        for name in ("mlp_ratio", "vth_init", "neuron_vth"):
            v = getattr(self, name)
            if not isinstance(v, float) or not math.isfinite(v) or v <= 0:
                raise bad(name, "must be a positive finite number")
        if self.mlp_ratio > MAX_SIZES["mlp_ratio"]:
            raise bad("mlp_ratio", f"must be at most {MAX_SIZES['mlp_ratio']:g}")
        if not isinstance(self.neuron_tau, float) or not math.isfinite(self.neuron_tau) or self.neuron_tau <= 1:
            raise bad("neuron_tau", "must be a number > 1 (spikingjelly's LIF requires tau > 1)")
        choices = {
            "attention": attention_kinds(), "tokenizer": TOKENIZERS, "sssa_version": SSSA_VERSIONS,
            "kappa": KAPPA_MODES, "fixation": FIXATION_MODES, "vth_mode": VTH_MODES,
            "sssa_inference": SSSA_INFERENCE, "surrogate": SURROGATES, "temporal_mixing": TEMPORAL_MIXING,
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise bad(name, f"must be one of {', '.join(allowed)}")
        if self.embed_dim % self.num_heads:
            raise bad("embed_dim", f"must be divisible by num_heads={self.num_heads}")
        if self.patch_size & (self.patch_size - 1):
            raise bad("patch_size", "must be a power of two (each SPS stage halves the image)")
        if self.patch_size > 16:
            raise bad("patch_size", "must be at most 16 (the tokenizer has four halving stages)")
        if self.img_size % self.patch_size:
            raise bad("img_size", f"must be divisible by patch_size={self.patch_size}")
        if self.embed_dim < 8:
            raise bad("embed_dim", "must be at least 8 (the tokenizer's first stage has embed_dim/8 channels)")
        if round(self.embed_dim * self.mlp_ratio) < 1:
            raise bad("mlp_ratio", "gives an MLP with no hidden units")
        s = self.saccades
        if isinstance(s, bool) or not (s == "threshold" or isinstance(s, int)):
            raise bad("saccades", "must be 'threshold' or a positive integer number of fixated patches")
        if isinstance(s, int) and not 1 <= s <= self.num_tokens:
            raise bad("saccades", f"must be between 1 and the number of tokens ({self.num_tokens})")
        if self.sssa_version == "v1" and self.kappa != "data":
            raise bad("kappa", "SSSA-V1 forms Q'K'^T from data; kappa='learned' needs sssa_version='v2'")
        if self.sssa_inference == "folded" and s != "threshold":
            raise bad("sssa_inference", "the folded-threshold rule exists only for saccades='threshold'")

    # ------------------------------------------------------------------ derived
    @property
    def num_tokens(self) -> int:
        return (self.img_size // self.patch_size) ** 2

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        return max(1, round(self.embed_dim * self.mlp_ratio))

    # ------------------------------------------------------------------ identity and (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """All fields as plain JSON types."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchConfig:
        """Build from a dict, naming unknown keys instead of a bare ``TypeError``."""
        if not isinstance(data, dict):
            raise ConfigError(f"ArchConfig: expected a mapping of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(map(str, set(data) - known))
        if unknown:
            raise ConfigError(f"ArchConfig: unknown field(s) {_listed(unknown)}; known: {', '.join(sorted(known))}")
        return cls(**data)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ArchConfig:
        try:
            data = json.loads(text)
        except ValueError as e:  # a JSONDecodeError, or an integer of thousands of digits
            raise ConfigError(f"ArchConfig: not valid JSON ({parse_failure(e)})") from None
        except RecursionError:
            raise ConfigError("ArchConfig: not valid JSON (arrays or objects nested too deeply)") from None
        return cls.from_dict(data)

    def canonical(self) -> str:
        """A canonical ``key=value;...`` string: equal configs give equal strings, whatever their origin.

        A field added after ids were first recorded is left out while it holds its default, so every
        architecture that existed before it keeps its id (studies, exports and checkpoints name them by id).
        """
        items = self.to_dict().items()
        return ";".join(f"{k}={v!r}" for k, v in sorted(items) if not (k in _LATER_FIELDS and v == FIELD_DEFAULTS[k]))

    @property
    def id(self) -> str:
        """A stable 12-hex-digit id of the canonical string (for de-duplication and caching)."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()[:12]

    def replace(self, **changes: Any) -> ArchConfig:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ConfigError(f"ArchConfig: unknown field(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)


FIELD_DEFAULTS: dict[str, Any] = {f.name: f.default for f in fields(ArchConfig)}
# Fields added after the first recorded ids: out of the canonical string at their defaults (ArchConfig.canonical).
_LATER_FIELDS = frozenset({"temporal_mixing"})


def _listed(names: list[str], limit: int = 8) -> str:
    """A few names for a message (a hostile file may hold thousands, or one a megabyte long)."""
    shown_names = [n if len(n) <= 40 else n[:37] + "..." for n in names[:limit]]
    return ", ".join(shown_names) + (f" and {len(names) - limit} more" if len(names) > limit else "")
