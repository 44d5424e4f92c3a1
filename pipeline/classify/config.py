"""Model configs (``configs/<model>.yaml``) as typed dataclasses: a key that is not a field is
refused with the file and the key named, instead of being silently ignored.

One file is one trainable model for one domain:

    name: tfidf_lr              # the model's name in run names and tables
    kind: tfidf_lr              # the classifier class (`pipeline.classify.build`)
    domain: dwc                 # dwc | health-plan
    settings: [rationale, prior]
    examples: data/examples/{domain}-{setting}.jsonl
    train_on_unscored: true     # health-plan hard cases (fold -1) in training or not
    extra_training: null        # another examples file whose scored rows outside its frozen test
                                #   are added to every training fold (never scored): cross-domain
    limit: null                 # the first N examples only (test configs)
    params: {C: 4.0}            # the classifier's own arguments (checked by the classifier)
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ..errors import UserError
from .examples import DOMAINS, SETTINGS


class ConfigError(UserError):
    """A model config that cannot be used: the message names the file and the key."""


@dataclasses.dataclass
class ModelConfig:
    name: str
    kind: str
    domain: str
    settings: list[str] = dataclasses.field(default_factory=lambda: ["prior"])
    examples: str = "data/examples/{domain}-{setting}.jsonl"
    train_on_unscored: bool = True
    extra_training: str | None = None
    limit: int | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""


@dataclasses.dataclass
class RunConfig:
    """A model config resolved for one setting: what one ``imr train`` run trains."""

    model: ModelConfig
    setting: str
    config_path: str

    @property
    def run(self) -> str:
        """The run's name: ``<domain>-<setting>-<model name>``."""
        return f"{self.model.domain}-{self.setting}-{self.model.name}"

    @property
    def examples(self) -> str:
        return self.model.examples.format(domain=self.model.domain, setting=self.setting)


def read_config(path: str | Path) -> ModelConfig:
    """Parse and check one YAML model config."""
    import yaml

    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"cannot read the config {path}: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path} must be a mapping of keys (name, kind, domain, ...)")
    fields = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(raw) - fields)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(fields))})")
    missing = [k for k in ("name", "kind", "domain") if k not in raw]
    if missing:
        raise ConfigError(f"{path}: missing key {missing[0]!r}")
    cfg = ModelConfig(**raw)
    if cfg.domain not in DOMAINS:
        raise ConfigError(f"{path}: domain must be one of {', '.join(DOMAINS)}, not {cfg.domain!r}")
    bad = [s for s in cfg.settings if s not in SETTINGS]
    if bad:
        raise ConfigError(f"{path}: setting must be one of {', '.join(SETTINGS)}, not {bad[0]!r}")
    return cfg


def load_config(path: str | Path, setting: str | None = None) -> RunConfig:
    """The config at ``path`` for ``setting`` (default: its first setting)."""
    cfg = read_config(path)
    setting = setting or cfg.settings[0]
    if setting not in cfg.settings:
        raise ConfigError(f"{path} is for settings {cfg.settings}, not {setting!r}")
    return RunConfig(cfg, setting, str(path))
