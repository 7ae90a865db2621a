"""The Babel extractor and the committed template: every table label is extracted, with context."""

from __future__ import annotations

import io
import tomllib

from babel.messages.extract import extract_from_dir

from gateway.catalog_check import expected_messages
from gateway.tables.extract import extract_labels
from tests.conftest import ROOT


def test_extractor_yields_labels_with_platform_context() -> None:
    data = b"""platform = "demo"
original_lang = "fr"
[statuses.A]
label = "Open"
label_original = "Ouvert"
description = "Placed."
canonical = "pending"
[payment_statuses.paid]
label = "Paid"
description = "Money in."
payment = "paid"
"""
    messages = list(extract_labels(io.BytesIO(data), {}, [], {}))
    assert [m[2] for m in messages] == [
        ("demo", "Open"),
        ("demo", "Placed."),
        ("demo.payment", "Paid"),
        ("demo.payment", "Money in."),
    ]
    assert all(m[1] == "pgettext" for m in messages)
    assert "seed wording (fr), use it exactly: Ouvert" in messages[0][3]


def test_pybabel_sees_every_table_label() -> None:
    # The same path `pybabel extract -F pyproject.toml` takes: method map from [tool.babel].
    babel = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["babel"]
    method_map = [(m["pattern"], m["method"]) for m in babel["mappings"]]
    found: set[tuple[str, str]] = set()
    for _filename, _lineno, message, _comments, context in extract_from_dir(
        str(ROOT),
        method_map=method_map,
        keywords={"pgettext": ((1, "c"), 2)},
    ):
        assert context is not None
        assert isinstance(message, str)
        found.add((context, message))
    assert found == set(expected_messages(ROOT / "mappings"))
    contexts = {context for context, _ in found}
    assert {
        "canonical",
        "detail",
        "stage",
        "kak2c",
        "measoft",
        "cscart",
        "cloudcart",
        "cloudcart.payment",
        "cloudcart.fulfillment",
        "fbo.step",
        "fbo.deadline",
        "fbo.weekday",
    } <= contexts
