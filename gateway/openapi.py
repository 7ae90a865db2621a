"""The committed OpenAPI contract, openapi/openapi.json: generated here, checked for drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from gateway.api.schemas import TranslateBatchIn
from gateway.api.tracking_schemas import EventIn
from gateway.connectors.registry import CONNECTORS
from gateway.problems import PROBLEM_JSON

REF = "#/components/schemas/{model}"
BODY_MODELS: tuple[type[BaseModel], ...] = (
    TranslateBatchIn,
    EventIn,
    *(c.In for c in CONNECTORS.values()),
)

OPENAPI_FILE = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def _problem_media(schema: dict[str, Any]) -> None:
    """Problem answers are documented under application/problem+json, not application/json."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if PROBLEM_JSON in content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
                if status == "422" and "application/json" in content:
                    # FastAPI's default validation answer: ours is a problem document
                    content.pop("application/json")
                    content[PROBLEM_JSON] = {"schema": {"$ref": "#/components/schemas/Problem"}}


def install(app: FastAPI) -> None:
    """Make the app serve (at /openapi.json) exactly the schema that is committed."""
    generate = app.openapi

    def patched() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            _problem_media(schema)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for unused in ("HTTPValidationError", "ValidationError"):
                components.pop(unused, None)
            # Bodies a route reads itself (the batches, POST /v1/events) are documented by
            # reference.
            for model in BODY_MODELS:
                definition = model.model_json_schema(ref_template=REF, mode="validation")
                for name, sub in definition.pop("$defs", {}).items():
                    components.setdefault(name, sub)
                components[model.__name__] = definition
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = patched  # type: ignore[method-assign]


def build(app: FastAPI) -> dict[str, Any]:
    return app.openapi()


def dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
