"""Every Redis key name, in one place.

Each tenant's keys share the hash tag `{tenant}`, so every script or transaction over one tenant's
keys touches a single Redis Cluster slot. Only the tenant registry is global.
"""

from __future__ import annotations

from dataclasses import dataclass, field

SEP = "\x1f"  # joins fields inside a member name (unit separator: never in a code or order id)


@dataclass(frozen=True, slots=True)
class TenantKeys:
    """Key names of one tenant."""

    prefix: str
    tenant: str
    base: str = field(init=False, repr=False, compare=False)  # every key starts with it

    def __post_init__(self) -> None:
        object.__setattr__(self, "base", f"{self.prefix}:{{{self.tenant}}}")

    @property
    def record(self) -> str:
        """Hash: name, created_at."""
        return f"{self.base}:tenant"

    @property
    def api_keys(self) -> str:
        """Hash: sha256 of a key → JSON {prefix, created_at}."""
        return f"{self.base}:keys"

    @property
    def ingest_tokens(self) -> str:
        """Hash: sha256 of an ingest token → JSON {prefix, created_at}."""
        return f"{self.base}:ingest"

    @property
    def orders(self) -> str:
        """Sorted set: platform SEP order_id, scored by the last received time (µs)."""
        return f"{self.base}:orders"

    @property
    def changes(self) -> str:
        """Stream: one entry per change of an order's current state (the webhook feed)."""
        return f"{self.base}:changes"

    @property
    def mappings(self) -> str:
        """Hash: platform SEP code → JSON tenant mapping."""
        return f"{self.base}:mappings"

    @property
    def unmapped(self) -> str:
        """Hash: platform SEP code → count of events with that unknown code."""
        return f"{self.base}:unmapped"

    @property
    def unmapped_seen(self) -> str:
        """Hash: platform SEP code → JSON {first_seen, last_seen, order_id}."""
        return f"{self.base}:unmapped:seen"

    @property
    def webhooks(self) -> str:
        """Hash: endpoint id → JSON endpoint (url, lang, filter, secrets, state)."""
        return f"{self.base}:webhooks"

    @property
    def fanout_lock(self) -> str:
        """String: the worker that fans this tenant's feed out now (a lease)."""
        return f"{self.base}:wh:fanout"

    def webhook_due(self, endpoint: str) -> str:
        """Sorted set: the endpoint's delivery lanes (endpoint SEP lane) → when each one's head
        is due (ms); claimed lanes are pushed into the future by their lease."""
        return f"{self.base}:wh:due:{endpoint}"

    @property
    def webhook_ready(self) -> str:
        """Sorted set: endpoint id → when the earliest of its lanes is due (ms); an endpoint
        with no lane waiting is absent."""
        return f"{self.base}:wh:ready"

    @property
    def webhook_due_legacy(self) -> str:
        """Sorted set of every endpoint's lanes, as versions before the per-endpoint due sets
        kept them (moved on a worker's first look at the tenant)."""
        return f"{self.base}:wh:due"

    @property
    def webhook_heads(self) -> str:
        """Hash: delivery lane → JSON {msg, attempts, first_ms} of the message at its head."""
        return f"{self.base}:wh:heads"

    @property
    def webhook_failing(self) -> str:
        """Hash: endpoint id → ms of its first failure since its last success."""
        return f"{self.base}:wh:failing"

    def idempotency(self, digest: str) -> str:
        """String: JSON {fingerprint, status, headers, body} of the answer to the request sent
        with the `Idempotency-Key` whose SHA-256 is `digest` (or {fingerprint, running} while it
        runs); sealed with GATEWAY_SECRET_KEY when one is set."""
        return f"{self.base}:idem:{digest}"

    @property
    def webhook_warned(self) -> str:
        """Hash: endpoint id → the start of its failure streak (as the API writes times) that
        an `endpoint.failing` event announced; removed by the next success."""
        return f"{self.base}:wh:warned"

    @property
    def webhook_held(self) -> str:
        """Hash: `endpoint<US>worker` → `count expiry_ms`: what each worker holds to send
        straight from the change feed (`webhooks.direct`), as it last reported it."""
        return f"{self.base}:wh:held"

    @property
    def webhook_holds(self) -> str:
        """Hash: endpoint id → the earliest ms its next attempt may start (its rate limit, or a
        receiver's Retry-After); see `webhooks.pace`."""
        return f"{self.base}:wh:holds"

    def webhook_lane(self, lane: str) -> str:
        """List: change-feed ids waiting for one endpoint, for one order (or operations)."""
        return f"{self.webhook_lane_prefix}{lane}"

    @property
    def webhook_lane_prefix(self) -> str:
        """What a lane list's name is made of before its due member (for the Lua scripts)."""
        return f"{self.base}:wh:lane:"

    def webhook_log(self, endpoint: str) -> str:
        """Stream: every delivery attempt to the endpoint (kept `history_days`)."""
        return f"{self.base}:wh:log:{endpoint}"

    def order_deliveries(self, platform: str, order_id: str) -> str:
        """Sorted set: every delivery attempt of the order's changes, to any endpoint, as a
        reference to its endpoint's log entry (`<entry id> <endpoint id>`), scored 1, 2, … in
        order (a stream costs 4 KB even when it holds a few entries)."""
        return f"{self.base}:wh:orefs:{platform}:{order_id}"

    def order_deliveries_stream(self, platform: str, order_id: str) -> str:
        """Stream: the order's delivery log as written before `order_deliveries` (moved there by
        the order's next attempt, else expiring with the history)."""
        return f"{self.base}:wh:olog:{platform}:{order_id}"

    def order_logs(self, order: tuple[str, str] | None, log: str) -> tuple[str, str]:
        """The order's delivery log and that log as a stream (written before) for an attempt
        logged in the endpoint's `log`: `log` twice when the attempt has no order."""
        if order is None:
            return log, log
        return self.order_deliveries(*order), self.order_deliveries_stream(*order)

    def order_changes(self, platform: str, order_id: str) -> str:
        """List: the change-feed ids of the order's changes (for replay by order)."""
        return f"{self.base}:changes:{platform}:{order_id}"

    @property
    def connectors(self) -> str:
        """Hash: platform → JSON connector (options, sealed credentials, times)."""
        return f"{self.base}:connectors"

    @property
    def suggestions(self) -> str:
        """Hash: platform SEP code → JSON mapping a connector suggests for a store's own code."""
        return f"{self.base}:suggestions"

    def connector_health(self, platform: str) -> str:
        """Hash: runs, last_run_at, last_success_at, last_error, orders_seen, failures_in_row."""
        return f"{self.base}:connector:{platform}:health"

    def connector_rejected(self, platform: str) -> str:
        """Hash: set-aside key → JSON entry of an order the connector could not read
        (`gateway.connectors.rejects`)."""
        return f"{self.base}:connector:{platform}:rejected"

    def connector_lease(self, platform: str) -> str:
        """String: the worker polling this connector now (a lease)."""
        return f"{self.base}:connector:{platform}:lease"

    def connector_last(self, platform: str) -> str:
        """Hash: order id → the status the connector recorded last for it (the newer of two
        generations; see `gateway.connectors.memory`)."""
        return f"{self.base}:connector:{platform}:last"

    def connector_last_old(self, platform: str) -> str:
        """Hash: the older generation of `connector_last` (read, never written)."""
        return f"{self.base}:connector:{platform}:last:old"

    def connector_backfill(self, platform: str) -> str:
        """Hash: the connector's backfill job: since, state (JSON), pages, orders, events, total,
        runner, started_at, updated_at, finished_at, error (JSON)."""
        return f"{self.base}:connector:{platform}:backfill"

    @property
    def fbo_shipments(self) -> str:
        """Sorted set: FBO shipment ids by registration time (ms)."""
        return f"{self.base}:fbo"

    @property
    def fbo_orders(self) -> str:
        """Hash: Kak2c order id → its FBO shipment id."""
        return f"{self.base}:fbo:orders"

    @property
    def fbo_due(self) -> str:
        """Sorted set: shipment SEP step SEP warning kind → when to check it (ms)."""
        return f"{self.base}:fbo:due"

    def fbo_shipment(self, shipment_id: str) -> str:
        """Hash: doc (the registration as JSON), done:<step> (ISO time), warned:<step>:<kind>."""
        return f"{self.base}:fbo:s:{shipment_id}"

    @property
    def share_key(self) -> str:
        """String: the tenant's key for signing share tokens (hex)."""
        return f"{self.base}:share:key"

    def share(self, share_id: str) -> str:
        """Hash: platform, order_id, created_at, expires_at; expires with the share."""
        return f"{self.base}:share:{share_id}"

    def shares_of(self, platform: str, order_id: str) -> str:
        """Sorted set: the order's share ids → expiry (Unix seconds)."""
        return f"{self.base}:shares:{platform}:{order_id}"

    def order(self, platform: str, order_id: str) -> str:
        """Hash: rev, doc (the order state as JSON)."""
        return f"{self.base}:order:{platform}:{order_id}"

    def timeline(self, platform: str, order_id: str) -> str:
        """List: every observation of the order, in arrival order, as JSON."""
        return f"{self.base}:timeline:{platform}:{order_id}"

    def seen(self, platform: str, order_id: str) -> str:
        """Set: the dedupe keys of the order's observations (event id; code and event time)."""
        return f"{self.base}:seen:{platform}:{order_id}"


def lane(endpoint: str, name: str) -> str:
    """A delivery lane: one endpoint, one order (`platform SEP order_id`) or `ops`."""
    return f"{endpoint}{SEP}{name}"


def tenants(prefix: str) -> str:
    """Set of every tenant id (the one global key)."""
    return f"{prefix}:tenants"


def feed_news(prefix: str) -> str:
    """The pub/sub channel that names a tenant whose change feed just got order changes, so the
    webhook workers read it at once instead of at their next sweep (a channel, not a key: it
    works the same on Redis Cluster)."""
    return f"{prefix}:feed-news"
