"""Settings, captured once: `provenant.toml` in the data dir, overridden by `PROVENANT_*` env.

Why one typed object: every part (signing, ledger, policies, generators) reads its options
from here, unknown keys are errors instead of silent typos, and the resolved values are what
go into manifests and ledger rows.

Environment:
  PROVENANT_HOME          data dir (default ./.provenant)
  PROVENANT_CONFIG        config file (default $PROVENANT_HOME/provenant.toml)
  PROVENANT_DATABASE_URL  ledger database (default SQLite in the data dir)
  PROVENANT_DEVICE        compute device for generators (auto, cpu, cuda, cuda:1, mps)
  PROVENANT_<SECTION>__<KEY>=value   any other setting, e.g. PROVENANT_MANIFEST__THUMBNAIL=true
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from provenance.errors import ConfigError

CONFIG_NAME = "provenant.toml"
_LAYER_NAME = re.compile(r"[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*")
DEFAULT_HOME = Path(".provenant")
TRAINING_MINING_KEYS = (
    "cawg.ai_generative_training",
    "cawg.ai_training",
    "cawg.ai_inference",
    "cawg.data_mining",
)
TrainingUse = Literal["allowed", "notAllowed", "constrained"]


class _Strict(BaseModel):
    """Base for settings sections: unknown keys are errors, values are validated."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _WithPluginTables(BaseModel):
    """A section whose extra sub-tables are per-plugin options (`[policies.known_works]`)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    def options_for(self, name: str) -> dict[str, Any]:
        """The option table for plugin `name` (empty when not configured)."""
        value = (self.model_extra or {}).get(name, {})
        if not isinstance(value, Mapping):
            raise ConfigError(f"config: [{self._section}.{name}] must be a table of options")
        return dict(value)

    def configured_plugins(self) -> list[str]:
        """Names of plugins that have an option table in the config."""
        return sorted(k for k, v in (self.model_extra or {}).items() if isinstance(v, Mapping))

    _section = "plugins"


class SigningSettings(_Strict):
    """Who signs: a PEM chain + key (dev CA by default) or a signer plugin (KMS/HSM)."""

    signer: str = "local"
    certificate_chain: Path | None = None
    private_key: Path | None = None
    passphrase_env: str = "PROVENANT_KEY_PASSPHRASE"
    algorithm: Literal["es256", "es384", "es512", "ps256", "ed25519"] = "es256"
    tsa_url: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("tsa_url")
    @classmethod
    def _check_tsa_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {value!r}")
        return value or None


class TrustSettings(_Strict):
    """Which signers `verify` trusts.  Network fetches are off for air-gapped studios."""

    anchors: list[Path] = Field(default_factory=list)
    #: End-entity certificates to trust as they are (c2pa's `trust.allowed_list`; c2pa-python
    #: 0.38.1 does not apply it while reading yet, so `verify` warns when it is set).
    allowed_certificates: list[Path] = Field(default_factory=list)
    #: Roots for CAWG identity credentials (`cawg.identity`), apart from claim signers'.
    cawg_anchors: list[Path] = Field(default_factory=list)
    fetch_remote_manifests: bool = False
    ocsp_fetch: bool = False


def _default_training_mining() -> dict[str, TrainingUse]:
    return dict.fromkeys(TRAINING_MINING_KEYS, "notAllowed")


class ManifestSettings(_Strict):
    """What goes into every manifest beyond the required assertions."""

    prompt: Literal["full", "salted_hash"] = "full"
    thumbnail: bool = False
    thumbnail_long_edge: int = Field(256, ge=32, le=2048)
    output_format: Literal["png", "jpeg", "webp"] = "png"
    jpeg_quality: int = Field(95, ge=1, le=100)
    training_mining: dict[str, TrainingUse] = Field(default_factory=_default_training_mining)

    @field_validator("training_mining")
    @classmethod
    def _check_training_keys(cls, value: dict[str, TrainingUse]) -> dict[str, TrainingUse]:
        unknown = sorted(set(value) - set(TRAINING_MINING_KEYS))
        if unknown:
            raise ValueError(f"unknown entries {unknown}; known: {list(TRAINING_MINING_KEYS)}")
        return {**_default_training_mining(), **value}


class SoftBindingSettings(_Strict):
    """`[soft_binding]`: what keeps an output findable once its metadata is stripped.

    `watermark`: "rivagan" (robust, ~0.2 s per image on two cores), "dwtdctsvd" (cheap, weak
    against resizing and cropping) or "none"; `fingerprint`: a PDQ hash of every output.
    """

    watermark: Literal["rivagan", "dwtdctsvd", "none"] = "rivagan"
    fingerprint: bool = True


class LedgerSettings(_Strict):
    """Ledger database tuning (the URL itself is `database_url`)."""

    busy_timeout_ms: int = Field(30_000, ge=0)
    pool_size: int = Field(5, ge=1)


class PolicySettings(_WithPluginTables):
    """Which policies run, the default declared use, bypassed layers, per-policy options.

    `degraded` names policy layers (`known_works.clip`, `output_safety.nsfw`) that may be
    missing on this machine.  Without it a layer that cannot run stops `generate` and
    `sign`; with it they run, warn on every run, and record the bypass in every manifest
    and ledger row.  A named layer whose model is present still runs.
    """

    enabled: list[str] = Field(
        default_factory=lambda: ["prompt_safety", "known_works", "output_safety", "model_license"]
    )
    default_use: Literal["commercial", "internal", "research"] = "commercial"
    degraded: list[str] = Field(default_factory=list)
    _section = "policies"

    @field_validator("degraded")
    @classmethod
    def _check_layer_names(cls, value: list[str]) -> list[str]:
        bad = [name for name in value if not _LAYER_NAME.fullmatch(name)]
        if bad:
            raise ValueError(f"layer names look like <policy>.<layer>, got {bad}")
        return list(dict.fromkeys(value))


class GeneratorSettings(_WithPluginTables):
    """Device choice and per-generator option tables (`[generators.diffusion] model = ...`)."""

    device: str = "auto"
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = "auto"
    default: str | None = None
    _section = "generators"


class ClipSettings(_Strict):
    """Where the open_clip checkpoint lives (no package ships CLIP weights)."""

    checkpoint: Path | None = None
    architecture: str = "ViT-B-32"
    config: Path | None = None  # custom open_clip model config JSON (tiny test models)


class ServeUser(_Strict):
    """One login of `provenant serve`: a role and a scrypt password hash (never the password).

    `token_sha256` is the SHA-256 of an API token for scripts (tokens are random, so a plain
    digest suffices; passwords are not, hence scrypt).
    """

    role: Literal["artist", "lead", "auditor", "admin"] = "auditor"
    password: str = ""
    token_sha256: str | None = None


class ServeSettings(_Strict):
    """`[serve]`: who may log in to the audit dashboard and API, and the upload cap."""

    users: dict[str, ServeUser] = Field(default_factory=dict)
    max_upload_bytes: int = Field(32 * 1024 * 1024, ge=1)
    secret_file: Path | None = None


class Settings(_Strict):
    """All settings, resolved: paths absolute, env applied."""

    home: Path
    config_file: Path | None = None
    database_url: str
    signing: SigningSettings = Field(default_factory=lambda: SigningSettings())
    trust: TrustSettings = Field(default_factory=lambda: TrustSettings())
    manifest: ManifestSettings = Field(default_factory=lambda: ManifestSettings())
    ledger: LedgerSettings = Field(default_factory=lambda: LedgerSettings())
    policies: PolicySettings = Field(default_factory=lambda: PolicySettings())
    generators: GeneratorSettings = Field(default_factory=lambda: GeneratorSettings())
    clip: ClipSettings = Field(default_factory=lambda: ClipSettings())
    serve: ServeSettings = Field(default_factory=lambda: ServeSettings())
    soft_binding: SoftBindingSettings = Field(default_factory=lambda: SoftBindingSettings())

    @property
    def keys_dir(self) -> Path:
        """Where `init` writes the dev CA and signing key."""
        return self.home / "keys"

    @property
    def index_dir(self) -> Path:
        """Where the known-works embedding matrix and hash index live."""
        return self.home / "index"

    @property
    def cache_dir(self) -> Path:
        """Derived data that can be rebuilt (weights digests...)."""
        return self.home / "cache"

    @property
    def chain_path(self) -> Path:
        """PEM signing chain in use (configured, or the dev chain from `init`)."""
        return self.signing.certificate_chain or self.keys_dir / "signing-chain.pem"

    @property
    def key_path(self) -> Path:
        """PEM private key in use (configured, or the dev key from `init`)."""
        return self.signing.private_key or self.keys_dir / "signing-key.pem"

    @classmethod
    def load(
        cls,
        home: str | Path | None = None,
        config_file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Read settings: defaults < config file < `PROVENANT_*` env < explicit overrides."""
        env = os.environ if env is None else env
        home_path = Path(home or env.get("PROVENANT_HOME") or DEFAULT_HOME).expanduser().absolute()
        cfg_path = config_file or env.get("PROVENANT_CONFIG")
        path = Path(cfg_path).expanduser().absolute() if cfg_path else home_path / CONFIG_NAME
        data: dict[str, Any] = {}
        if path.is_file():
            data = _read_toml(path)
        elif cfg_path:
            raise ConfigError(f"{path}: config file not found")
        data = _merge(data, _env_overrides(env))
        if overrides:
            data = _merge(data, dict(overrides))
        base = path.parent if path.is_file() else home_path
        data.setdefault("database_url", env.get("PROVENANT_DATABASE_URL") or "")
        if env.get("PROVENANT_DATABASE_URL"):
            data["database_url"] = env["PROVENANT_DATABASE_URL"]
        if not data["database_url"]:
            data["database_url"] = f"sqlite:///{home_path / 'ledger.db'}"
        if env.get("PROVENANT_DEVICE"):
            data.setdefault("generators", {})["device"] = env["PROVENANT_DEVICE"]
        data["home"] = home_path
        data["config_file"] = path if path.is_file() else None
        try:
            settings = cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(f"{path}: {_first_error(exc)}") from exc
        return settings.resolve_paths(base)

    def resolve_paths(self, base: Path) -> Settings:
        """Make relative paths in the config relative to the config file's directory."""

        def fix(p: Path | None) -> Path | None:
            if p is None:
                return None
            p = p.expanduser()
            return p if p.is_absolute() else (base / p)

        signing = self.signing.model_copy(
            update={
                "certificate_chain": fix(self.signing.certificate_chain),
                "private_key": fix(self.signing.private_key),
            }
        )
        trust = self.trust.model_copy(
            update={
                "anchors": [fix(p) for p in self.trust.anchors],
                "allowed_certificates": [fix(p) for p in self.trust.allowed_certificates],
                "cawg_anchors": [fix(p) for p in self.trust.cawg_anchors],
            }
        )
        clip = self.clip.model_copy(
            update={"checkpoint": fix(self.clip.checkpoint), "config": fix(self.clip.config)}
        )
        return self.model_copy(update={"signing": signing, "trust": trust, "clip": clip})


@cache
def _env_source() -> tuple[Any, Any]:
    """pydantic-settings' env source and the sections of `Settings` (imported on first use:
    most runs set no nested variable, and the CLI's start-up stays short)."""
    from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

    class EnvSections(BaseSettings):
        """The sections that `PROVENANT_<SECTION>__<KEY>` variables may set."""

        model_config = SettingsConfigDict(
            env_prefix="PROVENANT_", env_nested_delimiter="__", case_sensitive=False
        )

        signing: dict[str, Any] | None = None
        trust: dict[str, Any] | None = None
        manifest: dict[str, Any] | None = None
        ledger: dict[str, Any] | None = None
        policies: dict[str, Any] | None = None
        generators: dict[str, Any] | None = None
        clip: dict[str, Any] | None = None
        soft_binding: dict[str, Any] | None = None

    return EnvSettingsSource, EnvSections


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: malformed TOML: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config ({exc.strerror or exc})") from exc


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """`PROVENANT_MANIFEST__THUMBNAIL=true` -> {"manifest": {"thumbnail": True}}.

    The nesting is pydantic-settings' (`env_prefix`, `env_nested_delimiter="__"`,
    case-insensitive) over the mapping given, not `os.environ`, so `Settings.load(env=...)`
    stays pure; only names with `__` take part (`PROVENANT_HOME` and friends are read
    above).  Leaves are then read as TOML literals.  A section that `Settings` does not have
    is passed on as given, so validation names it instead of ignoring it.
    """
    nested = {k: v for k, v in env.items() if k.startswith("PROVENANT_") and "__" in k}
    if not nested:
        return {}
    source_cls, sections_cls = _env_source()
    source = source_cls(sections_cls)  # one per call: `env_vars` is per-call state
    source.env_vars = {k.lower(): v for k, v in nested.items()}
    out: dict[str, Any] = _parse_leaves(source())
    sections = sections_cls.model_fields
    for key, raw in nested.items():  # sections Settings does not know: let validation say so
        section = key[len("PROVENANT_") :].split("__")[0].lower()
        if section and section not in sections:
            out.setdefault(section, {})
            parts = [p.lower() for p in key[len("PROVENANT_") :].split("__")[1:] if p]
            if parts:
                out[section][parts[-1]] = _parse_env_value(raw)
    return out


def _parse_leaves(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _parse_leaves(v) for k, v in value.items()}
    return _parse_env_value(value) if isinstance(value, str) else value


def _parse_env_value(raw: str) -> Any:
    """Env values are TOML literals when they parse as one (true, 3, ["a"]), else strings."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(dict(out[key]), value)
        else:
            out[key] = value
    return out


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown setting"
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{where}: {msg}{more}"


def validate_options(model: type[BaseModel], options: Mapping[str, Any], where: str) -> Any:
    """Validate a plugin's option table against its typed model, as a one-line ConfigError."""
    try:
        return model.model_validate(dict(options))
    except ValidationError as exc:
        raise ConfigError(f"{where}: {_first_error(exc)}") from exc
