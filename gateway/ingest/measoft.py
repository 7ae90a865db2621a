"""MeaSoft XML (a webhook `<order>` or a `statusreq` answer) → status observations.

Pointers into XML (`where`) are element paths from the root: ``#/statusreq/order/2/statushistory/
status/1``. Elements that repeat (`order` in `statusreq`, `status` in `statushistory`,
`webhook_status` in `webhook_statuses`) carry a 0-based index among their same-named siblings;
single elements do not; an attribute is ``@name`` (``#/order/status/@createtimegmt``).

Times (platform-apis.md §1.4, §1.8): a status's `createtimegmt` is UTC and wins when present;
otherwise its `eventtime`, and the webhook's `webhook_status_time` / `webhook_status@time`, are
local times read in the zone the caller gives (the courier service's zone, usually Moscow).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from xml.parsers.expat import ErrorString
from zoneinfo import ZoneInfo

import defusedxml.ElementTree as DET
from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden

from gateway.errors import ForbiddenXml, InvalidPayload, MalformedXml
from gateway.ingest import NativeEvent
from gateway.tracking import as_utc

MAX_ORDER_ID = 200
MAX_CODE = 128
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}")
_TIME_FORMAT = "YYYY-MM-DD HH:MM:SS"
Found = tuple[str, datetime, str, str]  # (code, time, where the status is, where its time is)


def parse(body: bytes, *, local_zone: ZoneInfo) -> list[NativeEvent]:
    """The status events of every order in a MeaSoft webhook body or `statusreq` answer.

    Each order's events are its status history plus its current status, deduplicated on
    (code, time) and sorted by time; orders keep their payload order. `event_id` is None: MeaSoft
    has none, so tracking dedupes on order + code + time.

    Raises:
        MalformedXml: the body is not well-formed XML.
        ForbiddenXml: the body has a DTD, an entity declaration or an external reference.
        InvalidPayload: the XML is not a MeaSoft order or status answer, the answer is an error,
            or an order breaks the rules (the first such order).
    """
    events, unreadable = parse_each(body, local_zone=local_zone)
    if unreadable:
        raise unreadable[0].error
    return events


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An order of the body that breaks the rules: where it is, its number when it has a usable
    one, and what is wrong."""

    where: str
    order_id: str | None
    error: InvalidPayload


def parse_each(body: bytes, *, local_zone: ZoneInfo) -> tuple[list[NativeEvent], list[Unreadable]]:
    """`parse`, order by order: an order that breaks the rules is set aside (the pull connector
    records the others rather than let one order stop the feed); a body that is not a MeaSoft
    answer at all still raises as in `parse`."""
    root = _parse_xml(body)
    if root.tag == "order":
        orders = [(root, "#/order")]
    elif root.tag == "statusreq":
        _check_error(root)
        # count="0" and no orders: nothing changed, not an error
        orders = [(o, f"#/statusreq/order/{i}") for i, o in enumerate(root.findall("order"))]
    else:
        raise InvalidPayload(
            "expected a MeaSoft root element <order> (webhook) or <statusreq> (status answer), "
            f"found <{root.tag}>",
            where=f"#/{root.tag}",
        )
    events: list[NativeEvent] = []
    unreadable: list[Unreadable] = []
    for order, path in orders:
        try:
            events.extend(_order_events(order, path, local_zone))
        except InvalidPayload as exc:
            number = (order.get("orderno") or "").strip()
            usable = number if 0 < len(number) <= MAX_ORDER_ID else None
            unreadable.append(Unreadable(path, usable, exc))
    return events, unreadable


def _parse_xml(body: bytes) -> ET.Element:
    try:
        return DET.fromstring(body, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DTDForbidden as exc:
        raise ForbiddenXml(
            f"the XML declares a document type (<!DOCTYPE {exc.name}>); DTDs, entity "
            "declarations and external references are refused",
            where="#",
        ) from exc
    except EntitiesForbidden as exc:
        raise ForbiddenXml(
            f"the XML declares the entity {exc.name!r}; entity declarations are refused",
            where="#",
        ) from exc
    except DefusedXmlException as exc:  # ExternalReferenceForbidden, NotSupportedError
        raise ForbiddenXml(
            f"the XML uses a construct refused for safety: {exc}", where="#"
        ) from exc
    except ET.ParseError as exc:
        line, column = exc.position  # expat counts columns from 0; editors count from 1
        raise MalformedXml(
            f"the body is not well-formed XML at line {line}, column {column + 1}: "
            f"{ErrorString(exc.code)}",
            where="#",
        ) from exc
    except (LookupError, ValueError) as exc:  # unknown or wrong encoding in the declaration
        raise MalformedXml(f"the body is not readable XML: {exc}", where="#") from exc


def _check_error(root: ET.Element) -> None:
    code = (root.get("error") or "").strip()
    if code in ("", "0"):
        return
    messages = [m for m in (_message(root, "errormsg"), _message(root, "errormsgru")) if m]
    raise InvalidPayload(
        f"MeaSoft answered with error {code}"
        + (f": {' / '.join(messages)}" if messages else " and no message"),
        where="#/statusreq/@error",
        measoft_error=code,
        errormsg=messages[0] if messages else None,
    )


def _message(root: ET.Element, name: str) -> str | None:
    """An error message, given as an attribute of the root or as a child element."""
    text = root.get(name)
    if text is None:
        child = root.find(name)
        text = child.text if child is not None else None
    return text.strip() if text and text.strip() else None


def _order_events(order: ET.Element, path: str, zone: ZoneInfo) -> list[NativeEvent]:
    order_id = _order_id(order, path)
    found: list[Found] = []
    history = _single(order, "statushistory", path)
    if history is not None:
        for i, status in enumerate(history.findall("status")):
            found.append(_status(status, f"{path}/statushistory/status/{i}", zone))
    current = _single(order, "status", path)
    if current is not None:
        found.append(_status(current, f"{path}/status", zone))
    if not found:
        found = _webhook_statuses(order, path, zone)
    if not found:
        raise InvalidPayload(
            f"order {order_id!r} has no status: expected <status>, <statushistory>, "
            "<webhook_status_code> or <webhook_statuses>, found none of them",
            where=path,
        )
    seen: set[tuple[str, datetime]] = set()
    unique = []
    for item in found:
        code, time = item[0], item[1]
        if (code, time) not in seen:  # the current status usually repeats the last history entry
            seen.add((code, time))
            unique.append(item)
    unique.sort(key=lambda item: item[1])  # stable: equal times keep payload order
    return [
        NativeEvent(order_id, code, time, None, where, time_where)
        for code, time, where, time_where in unique
    ]


def _order_id(order: ET.Element, path: str) -> str:
    raw = order.get("orderno")
    value = (raw or "").strip()
    if not value or len(value) > MAX_ORDER_ID:
        found = "no orderno attribute" if raw is None else _show(raw)
        raise InvalidPayload(
            f"expected the order number in orderno (1 to {MAX_ORDER_ID} characters), found {found}",
            where=f"{path}/@orderno",
        )
    return value


def _single(parent: ET.Element, name: str, path: str) -> ET.Element | None:
    children = parent.findall(name)
    if len(children) > 1:
        raise InvalidPayload(
            f"expected at most one <{name}> in an order, found {len(children)}",
            where=f"{path}/{name}",
        )
    return children[0] if children else None


def _status(status: ET.Element, where: str, zone: ZoneInfo) -> Found:
    code = _code(status.text, where, "the status code as the text of <status>")
    gmt = status.get("createtimegmt")
    if gmt is not None and gmt.strip():
        at = f"{where}/@createtimegmt"
        return code, _time(gmt, UTC, at, "createtimegmt (UTC)"), where, at
    local = status.get("eventtime")
    if local is None or not local.strip():
        raise InvalidPayload(
            f"expected the status time in createtimegmt or eventtime ({_TIME_FORMAT}), "
            "found neither",
            where=where,
        )
    at = f"{where}/@eventtime"
    return code, _time(local, zone, at, "eventtime (local time)"), where, at


def _webhook_statuses(order: ET.Element, path: str, zone: ZoneInfo) -> list[Found]:
    """The webhook-only status fields, for an order that carries no <status> of its own."""
    found: list[Found] = []
    listed = _single(order, "webhook_statuses", path)
    if listed is not None:
        for i, item in enumerate(listed.findall("webhook_status")):
            where = f"{path}/webhook_statuses/webhook_status/{i}"
            code = _code(item.get("code"), f"{where}/@code", "the status code in code")
            at = f"{where}/@time"
            when = _time(item.get("time"), zone, at, "time (local time)")
            found.append((code, when, where, at))
    single = _single(order, "webhook_status_code", path)
    if single is not None:
        where = f"{path}/webhook_status_code"
        code = _code(single.text, where, "the status code as the text of <webhook_status_code>")
        time_element = _single(order, "webhook_status_time", path)
        text = time_element.text if time_element is not None else None
        at = f"{path}/webhook_status_time"
        when = _time(text, zone, at, "webhook_status_time (local time)")
        found.append((code, when, where, at))
    return found


def _code(text: str | None, where: str, expected: str) -> str:
    code = (text or "").strip()
    if not code or len(code) > MAX_CODE:
        found = "nothing" if not code else f"{len(code)} characters"
        raise InvalidPayload(
            f"expected {expected} (1 to {MAX_CODE} characters), found {found}", where=where
        )
    return code


def _time(text: str | None, zone: tzinfo, where: str, expected: str) -> datetime:
    value = (text or "").strip()
    if _TIME.fullmatch(value):
        try:
            moment = datetime.fromisoformat(value).replace(tzinfo=zone)
        except ValueError:
            pass  # well-shaped but not a date, such as month 13
        else:
            if as_utc(moment) is not None:
                return moment
            raise InvalidPayload(  # 0001-01-01 00:00:00 in Moscow (UTC+02:30) is in year 0
                f"expected {expected} within the years 1 to 9999 in UTC, found {_show(value)},"
                " which is outside them once converted to UTC",
                where=where,
            )
    found = _show(text or "") if value else "nothing"
    raise InvalidPayload(f"expected {expected} as {_TIME_FORMAT}, found {found}", where=where)


def _show(value: str) -> str:
    return repr(value if len(value) <= 60 else value[:57] + "...")
