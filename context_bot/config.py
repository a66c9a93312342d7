"""Settings: defaults, then an optional YAML file, then the environment, into frozen types.

One pure function, `load_settings(path, env)`, so tests hand it a dict instead of patching
`os.environ`. Every field is declared once in `FIELDS` with its YAML key, its environment
variable and its default; the README's table and `context-bot.example.yaml` follow it.
A bad value raises `ConfigError` naming the setting (YAML key and variable) and the fix.
Secrets are `repr=False` and never appear in an error message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from context_bot.errors import ConfigError

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("auto", "console", "json")
NATIVE_LOGS = ("stderr", "forward")
ROLES = ("all", "web", "worker")


@dataclass(frozen=True)
class LiveKitSettings:
    url: str = ""
    """`livekit.url` / `LIVEKIT_URL`: the server's WebSocket URL, e.g. ws://127.0.0.1:7880."""
    api_key: str = field(default="", repr=False)
    """`livekit.api_key` / `LIVEKIT_API_KEY`."""
    api_secret: str = field(default="", repr=False)
    """`livekit.api_secret` / `LIVEKIT_API_SECRET`; never logged."""

    def missing(self) -> list[str]:
        names = {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key}
        names["LIVEKIT_API_SECRET"] = self.api_secret
        return [name for name, value in names.items() if not value]

    def missing_settings(self) -> list[str]:
        """The missing settings as users write them: `livekit.url (LIVEKIT_URL)`."""
        return [f"livekit.{name.split('_', 1)[1].lower()} ({name})" for name in self.missing()]


@dataclass(frozen=True)
class Settings:
    livekit: LiveKitSettings = field(default_factory=LiveKitSettings)
    host: str = "127.0.0.1"
    """`http.host` / `CONTEXT_BOT_HOST`: where the HTTP endpoint listens."""
    port: int = 8080
    """`http.port` / `PORT`: the HTTP endpoint's port (0 picks a free one)."""
    bot_identity: str = "context-bot"
    """`bot.identity` / `CONTEXT_BOT_IDENTITY`: the bot's participant identity in every room."""
    bot_name: str = "Context Bot"
    """`bot.name` / `CONTEXT_BOT_NAME`: the bot's display name."""
    redis_url: str = field(default="", repr=False)
    """`tokens.redis_url` / `CONTEXT_BOT_REDIS_URL`: room owners in this Redis, shared by
    every endpoint instance (needs `context-bot[redis]`); empty: kept in the process."""
    role: str = "all"
    """`bot.role` / `CONTEXT_BOT_ROLE`: `all` (endpoint and bot in one process), `web`
    (endpoint only; bots come through dispatch) or `worker` (the bot, taking rooms from
    LiveKit's agent dispatch; its HTTP port serves health and metrics, and `/token` too,
    which dispatches like the web role)."""
    agent_name: str = ""
    """`bot.agent_name` / `CONTEXT_BOT_AGENT_NAME`: register with LiveKit's agent dispatch
    under this name and send bots into rooms through it; empty: no dispatch."""
    join_concurrency: int = 8
    """`bot.join_concurrency` / `CONTEXT_BOT_JOIN_CONCURRENCY`: rooms one process connects
    to at once; the rest queue. Lower it when many workers share a machine: 20 workers
    joining 8 rooms each at once timed out on 2 cores (benchmarks/RESULTS.md)."""
    max_rooms: int = 200
    """`bot.max_rooms` / `CONTEXT_BOT_MAX_ROOMS`: rooms one worker takes before it reports
    itself full to the dispatch."""
    repo: Path = Path()
    """`knowledge.repo` / `CONTEXT_BOT_REPO`: the repository whose files are served."""
    knowledge_dir: Path = Path("knowledge")
    """`knowledge.dir` / `CONTEXT_BOT_KNOWLEDGE_DIR`: documents; relative to the repo."""
    cache_dir: Path | None = None
    """`knowledge.cache_dir` / `CONTEXT_BOT_CACHE_DIR`: where the code index is kept between
    runs (one folder per repository under it, never inside the repository); unset:
    `${XDG_CACHE_HOME:-~/.cache}/context-bot/index`. Unwritable: indexed in memory."""
    watch: bool = True
    """`knowledge.watch` / `CONTEXT_BOT_WATCH`: reload when documents or files change."""
    keep_warm_s: int = 10
    """`knowledge.keep_warm` / `CONTEXT_BOT_KEEP_WARM`: seconds between two reads of the
    index's files through the page cache, so a search after idle minutes does not read
    from the disk on hosts that reclaim idle pages (`knowledge/pagecache.py`); 0: off.
    Costs the index's size in page cache and 0.2 s of one core per pass at 100k files
    (2.6% of one core at 10 s). 10, not 30: at 30 s the benchmark VM's reclaim still
    took pieces between two passes and the first askings after idle minutes met them
    (regex p95 51.2 and 52.4 ms at 100k files; 44.9 and 47.3 ms at 10 s,
    benchmarks/RESULTS-index.md)."""
    max_file_bytes: int = 2 * 1024 * 1024
    """`knowledge.max_file_bytes` / `CONTEXT_BOT_MAX_FILE_BYTES`: largest file served."""
    token_ttl_s: int = 3600
    """`tokens.ttl_seconds` / `CONTEXT_BOT_TOKEN_TTL`: lifetime of tokens handed out."""
    departure_timeout_s: int = 20
    """`rooms.departure_timeout` / `CONTEXT_BOT_DEPARTURE_TIMEOUT`: seconds a room we create
    lives on after its last participant leaves (LiveKit's own default is 20)."""
    reconcile_interval_s: int = 30
    """`rooms.reconcile_interval` / `CONTEXT_BOT_RECONCILE_INTERVAL`: seconds between checks
    of the server's room list for rooms we serve but are not in (also run at start)."""
    empty_grace_s: int = 20
    """`rooms.empty_grace` / `CONTEXT_BOT_EMPTY_GRACE`: seconds the bot stays in a room where
    only agents (other bots) remain, in case someone comes back."""
    warmup: bool = True
    """`rooms.warmup` / `CONTEXT_BOT_WARMUP`: open the bot's send path as it joins a room,
    so its first answer there is as fast as the rest; off saves idle CPU per room and
    makes each room's first answer ~200 ms slower (benchmarks/RESULTS.md)."""
    empty_timeout_s: int = 300
    """`rooms.empty_timeout` / `CONTEXT_BOT_EMPTY_TIMEOUT`: seconds a room we create waits
    for its first participant."""
    log_level: str = "info"
    """`log.level` / `CONTEXT_BOT_LOG_LEVEL`: debug, info, warning or error."""
    log_format: str = "auto"
    """`log.format` / `CONTEXT_BOT_LOG_FORMAT`: auto (console on a TTY, else JSON)."""
    native_logs: str = "stderr"
    """`log.native` / `CONTEXT_BOT_NATIVE_LOGS`: `stderr` (the LiveKit SDK's native library
    logs to stderr, `RUST_LOG` filtered, errors only by default) or `forward` (the SDK's
    default: every native record, trace level included, through our logs, at about three
    times the idle CPU per room; see `context_bot/bot/native.py`)."""
    auth_required: bool = False
    """`tokens.auth_required` / `CONTEXT_BOT_AUTH_REQUIRED`: refuse `POST /token` without a
    bearer JWT or an API key, and keep each room to the tenant that created it."""
    jwt_key: str = field(default="", repr=False)
    """`tokens.jwt_key` / `CONTEXT_BOT_JWT_KEY`: the auth service's HMAC secret, or its PEM
    public key for RS256/ES256; empty turns bearer JWTs off."""
    jwt_algorithm: str = "HS256"
    """`tokens.jwt_algorithm` / `CONTEXT_BOT_JWT_ALGORITHM`: the one algorithm accepted."""
    jwt_issuer: str = ""
    """`tokens.jwt_issuer` / `CONTEXT_BOT_JWT_ISSUER`: the `iss` every bearer JWT must carry."""
    jwt_audience: str = ""
    """`tokens.jwt_audience` / `CONTEXT_BOT_JWT_AUDIENCE`: the `aud` every bearer JWT must carry."""
    api_keys: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    """`tokens.api_keys` / `CONTEXT_BOT_API_KEYS`: tenant → key for `X-API-Key` (YAML mapping,
    or `tenant=key,tenant2=key2` in the environment)."""
    cors_origins: tuple[str, ...] = ()
    """`http.cors_origins` / `CONTEXT_BOT_CORS_ORIGINS`: browser origins allowed to call the
    endpoint (list, or comma-separated; `*` for any); empty means same-origin only."""
    rate_limit_per_min: int = 60
    """`http.rate_limit` / `CONTEXT_BOT_RATE_LIMIT`: `POST /token` requests a minute per
    client address; 0 turns the limit off."""
    rate_limit_burst: int = 20
    """`http.rate_limit_burst` / `CONTEXT_BOT_RATE_LIMIT_BURST`: requests a client may send at
    once before the per-minute rate applies."""
    onboarding_pattern: str = ""
    """`rooms.onboarding_pattern` / `CONTEXT_BOT_ONBOARDING_ROOMS`: a regular expression; a
    room whose whole name matches gets the bot on LiveKit's `room_started` webhook, besides
    the rooms this service created. Empty: only those."""
    llm_base_url: str = ""
    """`draft.llm_base_url` / `CONTEXT_BOT_LLM_BASE_URL`: an OpenAI-compatible API's base URL
    (`…/v1`, where `/chat/completions` is) for `context-bot draft --llm`."""
    llm_model: str = ""
    """`draft.llm_model` / `CONTEXT_BOT_LLM_MODEL`: the model `draft --llm` asks; written as
    `model:` in each document it writes."""
    llm_api_key: str = field(default="", repr=False)
    """`draft.llm_api_key` / `CONTEXT_BOT_LLM_API_KEY`: sent as a bearer token; never logged.
    Empty: no `Authorization` header (a local server)."""
    llm_token_budget: int = 6000
    """`draft.llm_token_budget` / `CONTEXT_BOT_LLM_TOKEN_BUDGET`: tokens one file may use,
    prompt and answer together (the file is cut to fit; about 4 characters a token)."""
    llm_concurrency: int = 4
    """`draft.llm_concurrency` / `CONTEXT_BOT_LLM_CONCURRENCY`: requests in flight at once."""
    llm_timeout_s: int = 60
    """`draft.llm_timeout` / `CONTEXT_BOT_LLM_TIMEOUT`: seconds one request may take."""
    llm_retries: int = 3
    """`draft.llm_retries` / `CONTEXT_BOT_LLM_RETRIES`: retries after a timeout, 429 or 5xx
    (waiting what `Retry-After` says, else backing off), before the file gets the
    deterministic draft."""

    @property
    def knowledge_path(self) -> Path:
        return self.repo / self.knowledge_dir

    def check_role(self) -> None:
        """Roles that split the product need the dispatch that joins them up."""
        if self.role != "all" and not self.agent_name:
            raise ConfigError(
                f"bot.role {self.role} (CONTEXT_BOT_ROLE) needs bot.agent_name "
                "(CONTEXT_BOT_AGENT_NAME): split processes meet through LiveKit's agent dispatch"
            )

    def require_livekit(self) -> LiveKitSettings:
        """The LiveKit settings, or one error line naming what is missing and `--dev`."""
        missing = self.livekit.missing_settings()
        if missing:
            raise ConfigError(
                f"missing LiveKit settings: {', '.join(missing)} "
                "(set them in the environment or the config file, "
                "or run `context-bot run --dev` to start a local livekit-server)"
            )
        return self.livekit


@dataclass(frozen=True)
class Field:
    """One setting: where it lives in YAML and the environment, and how to parse it."""

    section: str
    key: str
    env: str
    attr: str
    parse: Callable[[str, Any], Any]

    @property
    def yaml_name(self) -> str:
        return f"{self.section}.{self.key}"


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise ConfigError(f"{name} must be a string, got {type(value).__name__}")
    text = str(value).strip()
    if not text:
        raise ConfigError(f"{name} must not be empty")
    return text


def _secret(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{name} must be a string (value hidden)")
    return value


def _url(name: str, value: Any) -> str:
    text = _text(name, value)
    if not text.startswith(("ws://", "wss://", "http://", "https://")):
        raise ConfigError(f"{name} must start with ws://, wss://, http:// or https://")
    return text


def _int_in(low: int, high: int) -> Callable[[str, Any], int]:
    def parse(name: str, value: Any) -> int:
        if isinstance(value, bool):
            raise ConfigError(f"{name} must be a whole number, got a boolean")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {value!r}") from None
        if not low <= number <= high:
            raise ConfigError(f"{name} must be between {low} and {high}, got {number}")
        return number

    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str, Any], str]:
    def parse(name: str, value: Any) -> str:
        text = _text(name, value).lower()
        if text not in options:
            raise ConfigError(f"{name} must be one of {', '.join(options)}, got {text!r}")
        return text

    return parse


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _redis_url(name: str, value: Any) -> str:
    text = _secret(name, value).strip()
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigError(f"{name} must start with redis://, rediss:// or unix:// (value hidden)")
    return text


def _path(name: str, value: Any) -> Path:
    return Path(_text(name, value)).expanduser()


JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA")
TENANT_PATTERN = re.compile(r"[A-Za-z0-9_.:@=+\-]{1,128}")
MIN_API_KEY_CHARS = 16


def _jwt_algorithm(name: str, value: Any) -> str:
    text = _text(name, value)
    if text not in JWT_ALGORITHMS:
        raise ConfigError(f"{name} must be one of {', '.join(JWT_ALGORITHMS)}, got {text!r}")
    return text


def _api_keys(name: str, value: Any) -> tuple[tuple[str, str], ...]:
    """Tenant → key pairs; messages name tenants, never a key."""
    if isinstance(value, str):
        pairs: list[tuple[Any, Any]] = []
        for item in filter(None, (part.strip() for part in value.split(","))):
            tenant, sep, key = item.partition("=")
            if not sep:
                raise ConfigError(f"{name} must look like tenant=key,tenant2=key2 (value hidden)")
            pairs.append((tenant.strip(), key.strip()))
    elif isinstance(value, dict):
        pairs = list(value.items())
    else:
        raise ConfigError(f"{name} must be a mapping of tenant to key (value hidden)")
    seen: set[str] = set()
    for tenant, key in pairs:
        if not isinstance(tenant, str) or not TENANT_PATTERN.fullmatch(tenant):
            raise ConfigError(f"{name}: tenant names must be 1-128 of A-Z a-z 0-9 _ . : @ = + -")
        if not isinstance(key, str) or len(key) < MIN_API_KEY_CHARS:
            raise ConfigError(
                f"{name}: the key of tenant {tenant!r} must be a string of at least "
                f"{MIN_API_KEY_CHARS} characters (value hidden)"
            )
        if key in seen:
            raise ConfigError(f"{name}: two tenants share one key; give each its own")
        seen.add(key)
    return tuple((str(tenant), str(key)) for tenant, key in pairs)


def _origins(name: str, value: Any) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"{name} must be a list of origins or a comma-separated string")
    origins = tuple(_text(name, item).rstrip("/") for item in items if str(item).strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise ConfigError(f"{name}: {origin!r} must be `*` or start with http:// or https://")
    return origins


def _regex(name: str, value: Any) -> str:
    text = _text(name, value)
    try:
        re.compile(text)
    except re.error as exc:
        raise ConfigError(f"{name} is not a valid regular expression: {exc}") from None
    return text


FIELDS: tuple[Field, ...] = (
    Field("livekit", "url", "LIVEKIT_URL", "livekit.url", _url),
    Field("livekit", "api_key", "LIVEKIT_API_KEY", "livekit.api_key", _secret),
    Field("livekit", "api_secret", "LIVEKIT_API_SECRET", "livekit.api_secret", _secret),
    Field("http", "host", "CONTEXT_BOT_HOST", "host", _text),
    Field("http", "port", "PORT", "port", _int_in(0, 65535)),
    Field("bot", "identity", "CONTEXT_BOT_IDENTITY", "bot_identity", _text),
    Field("bot", "name", "CONTEXT_BOT_NAME", "bot_name", _text),
    Field("bot", "role", "CONTEXT_BOT_ROLE", "role", _choice(ROLES)),
    Field("tokens", "redis_url", "CONTEXT_BOT_REDIS_URL", "redis_url", _redis_url),
    Field("bot", "agent_name", "CONTEXT_BOT_AGENT_NAME", "agent_name", _text),
    Field("bot", "max_rooms", "CONTEXT_BOT_MAX_ROOMS", "max_rooms", _int_in(1, 100_000)),
    Field(
        "bot",
        "join_concurrency",
        "CONTEXT_BOT_JOIN_CONCURRENCY",
        "join_concurrency",
        _int_in(1, 64),
    ),
    Field("knowledge", "repo", "CONTEXT_BOT_REPO", "repo", _path),
    Field("knowledge", "dir", "CONTEXT_BOT_KNOWLEDGE_DIR", "knowledge_dir", _path),
    Field("knowledge", "cache_dir", "CONTEXT_BOT_CACHE_DIR", "cache_dir", _path),
    Field("knowledge", "watch", "CONTEXT_BOT_WATCH", "watch", _bool),
    Field("knowledge", "keep_warm", "CONTEXT_BOT_KEEP_WARM", "keep_warm_s", _int_in(0, 3600)),
    Field(
        "knowledge",
        "max_file_bytes",
        "CONTEXT_BOT_MAX_FILE_BYTES",
        "max_file_bytes",
        _int_in(1, 1 << 30),
    ),
    Field("tokens", "ttl_seconds", "CONTEXT_BOT_TOKEN_TTL", "token_ttl_s", _int_in(60, 86400 * 7)),
    Field(
        "rooms",
        "departure_timeout",
        "CONTEXT_BOT_DEPARTURE_TIMEOUT",
        "departure_timeout_s",
        _int_in(0, 86400),
    ),
    Field(
        "rooms",
        "empty_timeout",
        "CONTEXT_BOT_EMPTY_TIMEOUT",
        "empty_timeout_s",
        _int_in(1, 86400),
    ),
    Field(
        "rooms",
        "empty_grace",
        "CONTEXT_BOT_EMPTY_GRACE",
        "empty_grace_s",
        _int_in(0, 86400),
    ),
    Field("rooms", "warmup", "CONTEXT_BOT_WARMUP", "warmup", _bool),
    Field(
        "rooms",
        "reconcile_interval",
        "CONTEXT_BOT_RECONCILE_INTERVAL",
        "reconcile_interval_s",
        _int_in(1, 86400),
    ),
    Field("log", "level", "CONTEXT_BOT_LOG_LEVEL", "log_level", _choice(LOG_LEVELS)),
    Field("log", "format", "CONTEXT_BOT_LOG_FORMAT", "log_format", _choice(LOG_FORMATS)),
    Field("log", "native", "CONTEXT_BOT_NATIVE_LOGS", "native_logs", _choice(NATIVE_LOGS)),
    # The token endpoint's tenants, CORS, rate limit and webhook rule (issue 7).
    Field("tokens", "auth_required", "CONTEXT_BOT_AUTH_REQUIRED", "auth_required", _bool),
    Field("tokens", "jwt_key", "CONTEXT_BOT_JWT_KEY", "jwt_key", _secret),
    Field("tokens", "jwt_algorithm", "CONTEXT_BOT_JWT_ALGORITHM", "jwt_algorithm", _jwt_algorithm),
    Field("tokens", "jwt_issuer", "CONTEXT_BOT_JWT_ISSUER", "jwt_issuer", _text),
    Field("tokens", "jwt_audience", "CONTEXT_BOT_JWT_AUDIENCE", "jwt_audience", _text),
    Field("tokens", "api_keys", "CONTEXT_BOT_API_KEYS", "api_keys", _api_keys),
    Field("http", "cors_origins", "CONTEXT_BOT_CORS_ORIGINS", "cors_origins", _origins),
    Field(
        "http", "rate_limit", "CONTEXT_BOT_RATE_LIMIT", "rate_limit_per_min", _int_in(0, 1 << 20)
    ),
    Field(
        "http",
        "rate_limit_burst",
        "CONTEXT_BOT_RATE_LIMIT_BURST",
        "rate_limit_burst",
        _int_in(1, 1 << 20),
    ),
    Field(
        "rooms", "onboarding_pattern", "CONTEXT_BOT_ONBOARDING_ROOMS", "onboarding_pattern", _regex
    ),
    # The model writer of `context-bot draft --llm` (issue 18).
    Field("draft", "llm_base_url", "CONTEXT_BOT_LLM_BASE_URL", "llm_base_url", _url),
    Field("draft", "llm_model", "CONTEXT_BOT_LLM_MODEL", "llm_model", _text),
    Field("draft", "llm_api_key", "CONTEXT_BOT_LLM_API_KEY", "llm_api_key", _secret),
    Field(
        "draft",
        "llm_token_budget",
        "CONTEXT_BOT_LLM_TOKEN_BUDGET",
        "llm_token_budget",
        _int_in(500, 1_000_000),
    ),
    Field(
        "draft", "llm_concurrency", "CONTEXT_BOT_LLM_CONCURRENCY", "llm_concurrency", _int_in(1, 64)
    ),
    Field("draft", "llm_timeout", "CONTEXT_BOT_LLM_TIMEOUT", "llm_timeout_s", _int_in(1, 3600)),
    Field("draft", "llm_retries", "CONTEXT_BOT_LLM_RETRIES", "llm_retries", _int_in(0, 10)),
)

CONFIG_ENV = "CONTEXT_BOT_CONFIG"


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"config file {path} does not exist; fix the path or omit --config"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.__class__.__name__}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}; fix the syntax") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping of sections, not a list or text")
    return data


def _yaml_values(data: Mapping[str, Any], source: Path) -> dict[Field, Any]:
    known = {(f.section, f.key): f for f in FIELDS}
    sections = {f.section for f in FIELDS}
    values: dict[Field, Any] = {}
    for section, body in data.items():
        if section not in sections:
            raise ConfigError(
                f"config file {source}: unknown section {section!r} "
                f"(known: {', '.join(sorted(sections))})"
            )
        if body is None:  # a section whose settings are all commented out
            continue
        if not isinstance(body, dict):
            raise ConfigError(f"config file {source}: section {section!r} must be a mapping")
        for key, value in body.items():
            spec = known.get((section, key))
            if spec is None:
                raise ConfigError(f"config file {source}: unknown setting {section}.{key}")
            values[spec] = value
    return values


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the YAML file (`path` or `$CONTEXT_BOT_CONFIG`), then the environment."""
    env = {} if env is None else env
    if path is None and env.get(CONFIG_ENV):
        path = Path(env[CONFIG_ENV])
    raw: dict[Field, Any] = _yaml_values(_read_yaml(path), path) if path else {}
    for spec in FIELDS:
        if spec.env in env and env[spec.env] != "":
            raw[spec] = env[spec.env]

    parsed: dict[str, Any] = {}
    for spec, value in raw.items():
        name = f"{spec.yaml_name} ({spec.env})"
        parsed[spec.attr] = spec.parse(name, value)

    livekit = LiveKitSettings(
        **{
            attr.split(".", 1)[1]: parsed.pop(attr)
            for attr in list(parsed)
            if attr.startswith("livekit.")
        }
    )
    return Settings(livekit=livekit, **parsed)
