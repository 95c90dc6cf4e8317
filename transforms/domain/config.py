"""Rule configuration as data: a YAML file over packaged defaults, versioned by content.

Thresholds are business decisions that change more often than code, so they live in YAML.
``rules_version`` hashes the *effective* configuration (defaults merged with overrides,
canonical JSON), so two files that mean the same thing share a version and any change of
meaning gets a new one. Unknown keys are rejected: a typo must not silently disable a rule.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from importlib import resources
from typing import Any

import yaml

from transforms.domain.store_risk import WINDOW_DAYS as STORE_WINDOW_DAYS

RULE_IDS = ("FR-001", "FR-002", "FR-003", "FR-004", "FR-005", "FR-007", "FR-008")
ML_RULE_ID = "FR-006"


@dataclass(frozen=True, slots=True)
class HighValueConfig:
    enabled: bool
    weight: float
    multiplier: float
    min_transactions: int


@dataclass(frozen=True, slots=True)
class VelocityConfig:
    enabled: bool
    weight: float
    window_minutes: float
    max_count: int

    @property
    def window_ms(self) -> int:
        return int(self.window_minutes * 60_000)

    @property
    def retained_events(self) -> int:
        """Window entries worth keeping: the score saturates at twice ``max_count``."""
        return 2 * self.max_count


@dataclass(frozen=True, slots=True)
class ImpossibleTravelConfig:
    enabled: bool
    weight: float
    max_speed_kmh: float
    min_distance_km: float


@dataclass(frozen=True, slots=True)
class UnusualHourConfig:
    enabled: bool
    weight: float
    std_dev_threshold: float
    min_history: int


@dataclass(frozen=True, slots=True)
class BlacklistConfig:
    enabled: bool
    weight: float


@dataclass(frozen=True, slots=True)
class CompromisedStoreConfig:
    enabled: bool
    weight: float
    window_days: int
    min_fraud_rate: float
    min_transactions: int
    min_frauds: int


@dataclass(frozen=True, slots=True)
class CompromisedCardConfig:
    enabled: bool
    weight: float
    active_days: float

    @property
    def active_ms(self) -> int:
        return int(self.active_days * 86_400_000)


@dataclass(frozen=True, slots=True)
class RulesConfig:
    alert_threshold: float
    inactivity_days: float
    ml_alpha: float
    ml_threshold: float
    ml_supervised_alpha: float
    high_value: HighValueConfig
    velocity: VelocityConfig
    impossible_travel: ImpossibleTravelConfig
    unusual_hour: UnusualHourConfig
    blacklist: BlacklistConfig
    compromised_store: CompromisedStoreConfig
    compromised_card: CompromisedCardConfig
    rules_version: str

    @property
    def blend(self) -> tuple[float, float, float, float]:
        """What blending in the model needs of this version (transforms.anomaly): the anomaly
        model's and a supervised model's weight, FR-006's threshold, the alert threshold."""
        return self.ml_alpha, self.ml_supervised_alpha, self.ml_threshold, self.alert_threshold

    @property
    def inactivity_ms(self) -> int:
        return int(self.inactivity_days * 86_400_000)

    def weight(self, rule_id: str) -> float:
        return {
            "FR-001": self.high_value.weight,
            "FR-002": self.velocity.weight,
            "FR-003": self.impossible_travel.weight,
            "FR-004": self.unusual_hour.weight,
            "FR-005": self.blacklist.weight,
            "FR-007": self.compromised_store.weight,
            "FR-008": self.compromised_card.weight,
        }[rule_id]


def default_rules_text() -> str:
    return resources.files("transforms.domain").joinpath("default_rules.yaml").read_text("utf-8")


def default_rules() -> RulesConfig:
    """The packaged defaults. A rules file is read by ``transforms.read.read_rules``."""
    return rules_from_text(None)


def rules_from_text(override_yaml: str | None) -> RulesConfig:
    """The packaged defaults overridden by ``override_yaml``; ``ValueError`` says what is wrong
    (whatever the text: a rules version may come from a topic)."""
    try:
        return _rules_from_text(override_yaml)
    except RecursionError:  # the YAML parser on thousands of nested brackets
        raise ValueError("not valid YAML: nested too deeply") from None
    except (OverflowError, TypeError) as error:  # a number too large for a float, a bad key
        raise ValueError(f"unusable value: {error}") from None


def _rules_from_text(override_yaml: str | None) -> RulesConfig:
    effective = yaml.safe_load(default_rules_text())
    if override_yaml:
        try:
            override = yaml.safe_load(override_yaml) or {}
        except yaml.YAMLError as error:
            raise ValueError(f"not valid YAML: {_yaml_problem(error)}") from None
        if not isinstance(override, dict):
            raise ValueError("rules file must be a YAML mapping")
        _merge(effective, override, path="")
    return _build(effective)


def _yaml_problem(error: yaml.YAMLError) -> str:
    """One line: what the parser found wrong, and where."""
    problem = getattr(error, "problem", None) or str(error)
    mark = getattr(error, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return " ".join(f"{problem}{where}".split())


def _merge(base: dict[str, Any], override: dict[str, Any], path: str) -> None:
    for key, value in override.items():
        where = f"{path}{key}"
        if key not in base:
            raise ValueError(f"unknown rules setting: {where}")
        if isinstance(base[key], dict):
            if not isinstance(value, dict):
                raise ValueError(f"rules setting {where} must be a mapping")
            _merge(base[key], value, path=f"{where}.")
        else:
            base[key] = value


_SECTIONS: dict[str, Any] = {
    "FR-001": HighValueConfig,
    "FR-002": VelocityConfig,
    "FR-003": ImpossibleTravelConfig,
    "FR-004": UnusualHourConfig,
    "FR-005": BlacklistConfig,
    "FR-007": CompromisedStoreConfig,
    "FR-008": CompromisedCardConfig,
}


def _typed(where: str, value: Any, kind: str) -> Any:
    """``value`` as the declared type, an integer accepted (and stored) as a float.

    A quoted ``"false"`` must not leave a rule enabled, nor a quoted number fail at the first
    event; and ``weight: 1`` means ``weight: 1.0``, so both must hash to one rules_version.
    """
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind != "bool" and isinstance(value, int) and not isinstance(value, bool):
        return value if kind == "int" else float(value)
    if kind == "float" and isinstance(value, float):
        return value
    raise ValueError(f"rules setting {where} must be {kind}: {value!r}")


def _build(settings: dict[str, Any]) -> RulesConfig:
    for key in ("alert_threshold", "inactivity_days"):
        settings[key] = _typed(key, settings[key], "float")
    for key in ("alpha", "threshold", "supervised_alpha"):
        settings["ml"][key] = _typed(f"ml.{key}", settings["ml"][key], "float")
    for rule_id, section in _SECTIONS.items():
        values = settings["rules"][rule_id]
        for spec in fields(section):
            where = f"rules.{rule_id}.{spec.name}"
            values[spec.name] = _typed(where, values[spec.name], str(spec.type))
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    version = "rules-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:12]
    rules = settings["rules"]
    config = RulesConfig(
        alert_threshold=float(settings["alert_threshold"]),
        inactivity_days=float(settings["inactivity_days"]),
        ml_alpha=float(settings["ml"]["alpha"]),
        ml_threshold=float(settings["ml"]["threshold"]),
        ml_supervised_alpha=float(settings["ml"]["supervised_alpha"]),
        high_value=HighValueConfig(**rules["FR-001"]),
        velocity=VelocityConfig(**rules["FR-002"]),
        impossible_travel=ImpossibleTravelConfig(**rules["FR-003"]),
        unusual_hour=UnusualHourConfig(**rules["FR-004"]),
        blacklist=BlacklistConfig(**rules["FR-005"]),
        compromised_store=CompromisedStoreConfig(**rules["FR-007"]),
        compromised_card=CompromisedCardConfig(**rules["FR-008"]),
        rules_version=version,
    )
    _validate(config)
    return config


def _validate(config: RulesConfig) -> None:
    for rule_id in RULE_IDS:
        if not 0.0 <= config.weight(rule_id) <= 1.0:
            raise ValueError(f"{rule_id}.weight must be in [0, 1]")
    if not 0.0 < config.alert_threshold <= 1.0:
        raise ValueError("alert_threshold must be in (0, 1]")
    if not 0.0 <= config.ml_alpha <= 1.0 or not 0.0 <= config.ml_supervised_alpha <= 1.0:
        raise ValueError("ml.alpha and ml.supervised_alpha must be in [0, 1]")
    if config.velocity.max_count < 1 or config.velocity.window_minutes <= 0:
        raise ValueError("FR-002 needs max_count >= 1 and window_minutes > 0")
    if config.high_value.multiplier <= 0 or config.impossible_travel.max_speed_kmh <= 0:
        raise ValueError("FR-001.multiplier and FR-003.max_speed_kmh must be > 0")
    if config.unusual_hour.std_dev_threshold <= 0 or config.inactivity_days <= 0:
        raise ValueError("FR-004.std_dev_threshold and inactivity_days must be > 0")
    store = config.compromised_store
    if store.window_days not in STORE_WINDOW_DAYS:
        raise ValueError(f"FR-007.window_days must be one of {STORE_WINDOW_DAYS}")
    if not 0.0 < store.min_fraud_rate <= 1.0 or store.min_transactions < 1:
        raise ValueError("FR-007 needs min_fraud_rate in (0, 1] and min_transactions >= 1")
    if config.compromised_card.active_days <= 0:
        raise ValueError("FR-008.active_days must be > 0")
