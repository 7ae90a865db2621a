"""Webhook bodies: a change-feed entry rendered in an endpoint's language.

The feed stores codes and msgids only (see `gateway.recording`), so one entry is rendered per
endpoint language at send time; a retry renders the same bytes again. Events that are not order
changes (`endpoint.disabled`, the FBO warnings) carry their data as one JSON field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson

from gateway.fbo.render import FboRenderer
from gateway.render import Renderer

Json = dict[str, Any]


def message_id(feed_id: str) -> str:
    """The `webhook-id` of a change-feed entry: the same for every attempt, replay and endpoint."""
    return f"msg_{feed_id}"


def order_of(fields: Mapping[str, str]) -> tuple[str, str] | None:
    platform, order_id = fields.get("platform"), fields.get("order_id")
    return (platform, order_id) if platform and order_id is not None else None


class Bodies:
    """Delivery bodies of change-feed entries in an endpoint's language.

    An entry stores its statuses as JSON codes; the same few statuses recur in every entry, so
    each (stored JSON, language) is localized and serialized once and reused as a fragment (the
    renderer is a pure function of its tables and catalogs)."""

    def __init__(self, renderer: Renderer, cached: int = 4096) -> None:
        self.renderer = renderer
        self._canonical = lru_cache(maxsize=cached)(self._canonical_json)
        self._native = lru_cache(maxsize=cached)(self._native_json)

    def _canonical_json(self, stored: str, lang: str) -> orjson.Fragment:
        doc = self.renderer.stored_canonical(orjson.loads(stored), lang)
        return orjson.Fragment(orjson.dumps(doc))

    def _native_json(self, stored: str, lang: str) -> orjson.Fragment:
        return orjson.Fragment(
            orjson.dumps(self.renderer.stored_native(orjson.loads(stored), lang))
        )

    def data(self, fields: Mapping[str, str], lang: str) -> Json:
        """The `data` of an event, localized."""
        if fields["type"] != "order.status_changed":
            data: Json = orjson.loads(fields.get("data") or "{}")
            if fields["type"].startswith("fbo.deadline_"):
                fbo = FboRenderer(self.renderer.catalogs)
                deadline = datetime.fromisoformat(data["deadline"])
                data["label"] = fbo.text("steps", data["step"], lang)
                data["message"] = fbo.sentence(data["step"], deadline, lang)
            return data
        previous = fields.get("previous")
        return {
            "order_id": fields["order_id"],
            "platform": fields["platform"],
            "sequence": int(fields["sequence"]),
            "occurred_at": fields["occurred_at"],
            "previous": self._canonical(previous, lang) if previous else None,
            "current": self._canonical(fields["current"], lang),
            "native": self._native(fields["native"], lang),
            "regression": fields.get("regression") == "1",
            "mapping_version": fields["mapping_version"],
        }

    def body(self, fields: Mapping[str, str], lang: str) -> bytes:
        """The JSON body of a delivery, as `../shared/spec/api.md` shows it."""
        return orjson.dumps(
            {
                "type": fields["type"],
                "timestamp": fields.get("received_at") or fields.get("timestamp"),
                "data": self.data(fields, lang),
            }
        )


def current_of(fields: Mapping[str, str]) -> Json:
    """The new canonical status (codes) of an order change, for filters; {} for other events."""
    current = fields.get("current")
    doc: Json = orjson.loads(current) if current else {}
    return doc
