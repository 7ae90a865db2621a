"""Runtime configuration: every field documented, read once by `create_app()` or the CLI.

Environment variables carry the `GATEWAY_` prefix (`GATEWAY_PORT=9000`); a `.env` file in the
working directory is read too. Nothing reads the environment at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

_PACKAGE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    """mappings/ or locales/: the source tree's copy, else the one shipped inside the wheel."""
    source_tree = _PACKAGE.parent / name
    return source_tree if source_tree.is_dir() else _PACKAGE / "_data" / name


class Settings(BaseSettings):
    """Gateway settings; see the README's Configuration section for the same list."""

    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_", env_file=".env", extra="ignore", frozen=True
    )

    host: str = Field("127.0.0.1", description="Interface `gateway serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `gateway serve` listens on.")
    mappings_dir: Path = Field(
        default_factory=lambda: _data_dir("mappings"), description="The mapping tables."
    )
    locales_dir: Path = Field(
        default_factory=lambda: _data_dir("locales"), description="The gettext catalogs."
    )
    cors_origins: tuple[str, ...] = Field(
        ("*",), description="Origins allowed to call the translation endpoints from a browser."
    )
    batch_max_items: int = Field(
        10_000, ge=1, le=100_000, description="Most items one POST /v1/translate/batch may carry."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (413 above it)."
    )
    response_cache_entries: int = Field(
        20_000, ge=0, description="GET answers kept in memory and replayed (0 turns it off)."
    )
    redis_url: str | None = Field(
        None,
        description="Redis server (redis://, rediss://, unix://). Unset: the embedded Redis under "
        "data_dir.",
    )
    redis_cluster: bool = Field(False, description="redis_url names a Redis Cluster node.")
    redis_max_connections: int = Field(
        512,
        ge=4,
        le=100_000,
        description="Connections each process may open to Redis; past it calls wait their turn.",
    )
    redis_prefix: str = Field(
        "gw", pattern=r"^[A-Za-z0-9_.-]{1,32}$", description="First part of every Redis key."
    )
    data_dir: Path = Field(
        Path("var"), description="Where the embedded Redis keeps its data (AOF) and socket."
    )
    embedded_appendfsync: Literal["always", "everysec"] = Field(
        "everysec",
        description="fsync policy of the embedded Redis's AOF: everysec loses at most about a "
        "second on power failure; always loses nothing, at a cost in throughput.",
    )
    auth_cache_seconds: float = Field(
        2.0,
        ge=0,
        description="How long a verified API key is trusted without asking Redis again; a "
        "revoked key stops working within this time.",
    )
    remembered_orders: int = Field(
        10_000,
        ge=0,
        description="Order states each process remembers (least recently used first out) so "
        "an event of a recent order is decided without reading Redis first; the commit's "
        "compare-and-set catches a stale one. About 1 KB each; 0 turns it off.",
    )
    events_batch_max_items: int = Field(
        1000, ge=1, le=10_000, description="Most events one POST /v1/events/batch may carry."
    )
    future_tolerance_s: float = Field(
        300.0,
        ge=0,
        le=86_400,
        description="How far (seconds) an event's own time may be ahead of the gateway's clock "
        "(clock skew); a later one is refused (422), since the latest event by time wins and it "
        "would freeze its order.",
    )
    measoft_local_zone: str = Field(
        "Europe/Moscow",
        description="IANA zone of MeaSoft's local `eventtime` (used only when `createtimegmt`, "
        "which is UTC, is missing).",
    )
    log_json: bool = Field(True, description="Structured JSON logs (one object per line).")
    history_days: float = Field(
        30.0,
        gt=0,
        description="How long the change feed and the webhook delivery log are kept (days); "
        "replay reaches back this far.",
    )
    allow_insecure_webhooks: bool = Field(
        False, description="Accept http:// webhook URLs (https is required otherwise)."
    )
    allow_private_webhooks: bool = Field(
        False,
        description="Deliver to loopback, private, link-local and other non-public addresses "
        "(local development and tests; refused otherwise, at registration and at every send).",
    )
    webhook_connect_timeout_s: float = Field(
        5.0, gt=0, le=60, description="Seconds to connect to a webhook receiver."
    )
    webhook_timeout_s: float = Field(
        15.0, gt=0, le=120, description="Seconds a webhook delivery may take in all."
    )
    webhook_retry_base_s: float = Field(
        5.0, gt=0, description="First retry delay ceiling; it doubles per attempt (full jitter)."
    )
    webhook_retry_cap_s: float = Field(
        21_600.0, gt=0, description="Largest delay between two attempts of one delivery."
    )
    webhook_retry_window_s: float = Field(
        259_200.0,
        gt=0,
        description="A delivery is retried for this long after its first attempt, then given up.",
    )
    webhook_disable_after_s: float = Field(
        259_200.0,
        gt=0,
        description="An endpoint failing without a single success for this long is disabled.",
    )
    webhook_warn_after_s: float = Field(
        3_600.0,
        gt=0,
        description="An endpoint failing without a single success for this long is announced "
        "once with an `endpoint.failing` event (with when it will be disabled); its next "
        "success sends `endpoint.recovered`.",
    )
    webhook_concurrency: int = Field(
        256, ge=1, le=10_000, description="Deliveries one worker has in flight at once."
    )
    webhook_direct: bool = Field(
        True,
        description="Send a change straight from the change feed when nothing of its order "
        "waits for the endpoint (false: queue every change on a delivery lane in Redis first).",
    )
    webhook_rotation_overlap_s: float = Field(
        86_400.0, ge=0, description="How long a rotated-out secret keeps signing beside the new."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Encrypts connector credentials at rest (Fernet): a Fernet key, or any long "
        "random passphrase. Without it, connector credentials are refused.",
    )
    secret_key_previous: SecretStr | None = Field(
        None,
        description="Keys GATEWAY_SECRET_KEY replaced, comma-separated: what they sealed still "
        "opens, and `gateway seal-secrets` seals it again under the current key.",
    )
    connector_interval_s: float = Field(
        60.0, ge=1, description="Default seconds between two polls of a connector."
    )
    connector_timeout_s: float = Field(
        60.0, gt=0, le=600, description="Seconds one request to a platform's API may take."
    )
    worker_in_process: bool = Field(
        False,
        description="Run a webhook delivery worker inside the API process (`gateway serve` "
        "does, unless --no-worker).",
    )
    worker_id: str | None = Field(
        None, description="Name of this worker in the consumer group (default: host and pid)."
    )
    worker_metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Port `gateway worker` serves its Prometheus metrics on, at /metrics on "
        "GATEWAY_HOST (default: none; the API's /metrics covers the worker `gateway serve` "
        "runs in-process).",
    )
    cache_max_age: int = Field(
        3600,
        ge=0,
        description="Cache-Control max-age (seconds) of translation and vocabulary GETs.",
    )
