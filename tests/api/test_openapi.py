"""The committed OpenAPI file is the contract: it must match what the app serves."""

from __future__ import annotations

import json

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway import openapi


def test_openapi_is_current(app: FastAPI) -> None:
    committed = openapi.OPENAPI_FILE.read_text(encoding="utf-8")
    assert committed == openapi.dump(openapi.build(app)), "run `gateway export-openapi`"


def test_served_schema_is_the_committed_one(client: TestClient) -> None:
    served = client.get("/openapi.json").json()
    assert served == json.loads(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))


def test_contract_paths_and_operation_ids(app: FastAPI) -> None:
    schema = json.loads(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))
    assert schema["openapi"].startswith("3.1")
    operations = {
        (method, path): op["operationId"]
        for path, ops in schema["paths"].items()
        for method, op in ops.items()
    }
    assert operations == {
        ("get", "/v1/translate/{platform}/{code}"): "translate_code",
        ("post", "/v1/translate"): "translate_status",
        ("post", "/v1/translate/batch"): "translate_batch",
        ("get", "/v1/platforms"): "list_platforms",
        ("get", "/v1/platforms/{platform}/statuses"): "list_platform_statuses",
        ("get", "/v1/statuses"): "list_statuses",
        ("post", "/v1/events"): "post_event",
        ("post", "/v1/events/batch"): "post_events_batch",
        ("post", "/v1/ingest/{platform}"): "ingest",
        ("get", "/v1/orders/{platform}/{order_id}"): "get_order",
        ("get", "/v1/orders"): "list_orders",
        ("put", "/v1/mappings/{platform}/{code}"): "put_mapping",
        ("put", "/v1/mappings/cloudcart.payment/{code}"): "put_payment_mapping",
        ("put", "/v1/mappings/cloudcart.fulfillment/{code}"): "put_fulfillment_mapping",
        ("get", "/v1/mappings/cloudcart.payment/{code}"): "get_payment_mapping",
        ("get", "/v1/mappings/cloudcart.fulfillment/{code}"): "get_fulfillment_mapping",
        ("delete", "/v1/mappings/cloudcart.payment/{code}"): "delete_payment_mapping",
        ("delete", "/v1/mappings/cloudcart.fulfillment/{code}"): "delete_fulfillment_mapping",
        ("get", "/v1/mappings/{platform}/{code}"): "get_mapping",
        ("delete", "/v1/mappings/{platform}/{code}"): "delete_mapping",
        ("get", "/v1/mappings"): "list_mappings",
        ("get", "/v1/unmapped"): "list_unmapped",
        ("post", "/v1/webhooks"): "create_webhook",
        ("get", "/v1/webhooks"): "list_webhooks",
        ("get", "/v1/webhooks/{endpoint_id}"): "get_webhook",
        ("patch", "/v1/webhooks/{endpoint_id}"): "patch_webhook",
        ("delete", "/v1/webhooks/{endpoint_id}"): "delete_webhook",
        ("post", "/v1/webhooks/{endpoint_id}/rotate-secret"): "rotate_secret",
        ("post", "/v1/webhooks/{endpoint_id}/enable"): "enable_webhook",
        ("post", "/v1/webhooks/{endpoint_id}/test"): "test_webhook",
        ("get", "/v1/webhooks/{endpoint_id}/deliveries"): "list_deliveries",
        ("post", "/v1/webhooks/{endpoint_id}/replay"): "replay",
        ("get", "/v1/orders/{platform}/{order_id}/deliveries"): "order_deliveries",
        ("post", "/v1/orders/{platform}/{order_id}/share"): "share_order",
        ("get", "/v1/orders/{platform}/{order_id}/share"): "list_shares",
        ("delete", "/v1/shares/{share_id}"): "revoke_share",
        ("get", "/v1/public/orders/{token}"): "public_order",
        ("post", "/v1/fbo/schedule"): "fbo_schedule",
        ("post", "/v1/fbo/shipments"): "register_shipment",
        ("get", "/v1/fbo/shipments"): "list_shipments",
        ("get", "/v1/fbo/shipments/{shipment_id}"): "get_shipment",
        ("post", "/v1/fbo/shipments/{shipment_id}/steps/{step}"): "mark_step_done",
        ("delete", "/v1/fbo/shipments/{shipment_id}"): "delete_shipment",
        ("put", "/v1/connectors/{platform}"): "put_connector",
        ("get", "/v1/connectors/{platform}"): "get_connector",
        ("delete", "/v1/connectors/{platform}"): "delete_connector",
        ("post", "/v1/connectors/{platform}/run"): "run_connector",
        ("delete", "/v1/connectors/{platform}/rejected"): "clear_rejected",
        ("post", "/v1/connectors/{platform}/backfill"): "start_backfill",
        ("get", "/v1/connectors/{platform}/backfill"): "get_backfill",
        ("get", "/healthz"): "healthz",
        ("get", "/readyz"): "readyz",
        ("get", "/metrics"): "metrics",
    }


def test_errors_are_documented_as_problem_json() -> None:
    schema = json.loads(openapi.OPENAPI_FILE.read_text(encoding="utf-8"))
    for ops in schema["paths"].values():
        for op in ops.values():
            for status, response in op["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"], status
            if op.get("parameters") or op.get("requestBody"):
                assert "422" in op["responses"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
