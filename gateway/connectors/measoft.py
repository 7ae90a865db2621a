"""MeaSoft's change feed: `statusreq` with `changes=ONLY_LAST`, then `commitlaststatus`.

Every order whose status changed since the last *confirmed* pull comes back with its history;
the gateway records the whole batch (tracking rules: duplicates are dropped, late events kept in
the timeline only) and confirms with `commitlaststatus` only after that, so a gateway that dies
in between gets the same changes again and records nothing twice
(`../shared/reference/platform-apis.md` §1.3). An order that breaks the rules is set aside
(`gateway.connectors.rejects`) and confirmed with the others: unconfirmed, it would come back
on every poll and hold up every later change of the account.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from xml.sax.saxutils import escape, quoteattr
from zoneinfo import ZoneInfo

import aiohttp
from defusedxml import ElementTree as DefusedET
from pydantic import BaseModel, ConfigDict, Field, HttpUrl, SecretStr

from gateway.connectors import rejects
from gateway.connectors.base import Json, Memory, Page, PollInterval, Pulled, Record
from gateway.errors import ConnectorUnavailable, GatewayError, InvalidPayload
from gateway.ingest import NativeEvent, measoft as measoft_xml

DEFAULT_URL = "https://home.courierexe.ru/api/"
XML = "text/xml; charset=utf-8"
AUTH_ERRORS = frozenset({"1", "24", "25"})  # the two published tables' authorisation codes


class MeasoftOptions(BaseModel):
    """What is stored in clear: everything but the password."""

    model_config = ConfigDict(extra="forbid")
    login: str = Field(min_length=1, max_length=200)
    extra: str = Field(min_length=1, max_length=32, description="The courier service's code.")
    stream_id: int | None = Field(
        None, ge=100, le=10_000, description="`streamid`: a change stream of its own."
    )
    api_url: HttpUrl = Field(HttpUrl(DEFAULT_URL), description="MeaSoft API address.")
    interval_s: PollInterval = None


class MeasoftIn(MeasoftOptions):
    """PUT /v1/connectors/measoft."""

    password: SecretStr = Field(min_length=1, max_length=200)


def _auth(options: MeasoftOptions, password: str) -> str:
    return (
        f"<auth extra={quoteattr(options.extra)} login={quoteattr(options.login)} "
        f"pass={quoteattr(password)}/>"
    )


def statusreq(options: MeasoftOptions, password: str) -> bytes:
    stream = f"<streamid>{options.stream_id}</streamid>" if options.stream_id else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<statusreq>'
        f"{_auth(options, password)}<changes>ONLY_LAST</changes>"
        f"<quickstatus>NO</quickstatus>{stream}</statusreq>"
    ).encode()


def history_req(options: MeasoftOptions, password: str, since: date, until: date) -> bytes:
    """`statusreq` for every order created from `since` to `until` (no `changes`: MeaSoft's
    change feed and its confirmation are left alone)."""
    stream = f"<streamid>{options.stream_id}</streamid>" if options.stream_id else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<statusreq>'
        f"{_auth(options, password)}<datefrom>{since.isoformat()}</datefrom>"
        f"<dateto>{until.isoformat()}</dateto><quickstatus>NO</quickstatus>{stream}</statusreq>"
    ).encode()


def commit(options: MeasoftOptions, password: str) -> bytes:
    stream = f"<streamid>{options.stream_id}</streamid>" if options.stream_id else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<commitlaststatus>'
        f"{_auth(options, password)}<client>{escape('CLIENT')}</client>{stream}"
        "</commitlaststatus>"
    ).encode()


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, what: str) -> bytes:
    try:
        async with session.post(
            url, data=body, headers={"Content-Type": XML}, allow_redirects=False
        ) as answer:
            raw = await answer.read()
            if answer.status != 200:
                raise ConnectorUnavailable(f"MeaSoft answered {what} with HTTP {answer.status}")
            return raw
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise ConnectorUnavailable(
            f"MeaSoft could not be reached for {what}: {exc.__class__.__name__}: {exc}"
        ) from exc


def _commit_error(raw: bytes) -> None:
    try:
        root = DefusedET.fromstring(raw)
    except Exception as exc:  # defusedxml raises assorted errors for a broken answer
        raise InvalidPayload(f"MeaSoft's commitlaststatus answer is not XML: {exc}") from exc
    code = (root.get("error") or "").strip()
    if code not in ("", "0"):
        message = root.get("errormsg") or root.get("errormsgru") or "no message"
        raise InvalidPayload(
            f"MeaSoft refused commitlaststatus with error {code}: {message}", measoft_error=code
        )


PLATFORM = "measoft"
SECRET_FIELDS = ("password",)
# another address, account, service or change stream is another feed to confirm changes on
SOURCE_FIELDS = ("api_url", "login", "extra", "stream_id")
Options = MeasoftOptions
In = MeasoftIn


async def pull(
    session: aiohttp.ClientSession,
    options: BaseModel,
    secrets: Mapping[str, str],
    cursor: Json,  # noqa: ARG001 - MeaSoft keeps the cursor itself (what was committed)
    record: Record,
    zone: ZoneInfo,
    memory: Memory,  # noqa: ARG001 - MeaSoft's feed sends only the changes
) -> Pulled:
    """One cycle: ask for the changes, record them all, then confirm them to MeaSoft."""
    assert isinstance(options, MeasoftOptions)
    password = secrets["password"]
    url = str(options.api_url)
    raw = await _post(session, url, statusreq(options, password), "statusreq")
    events, unreadable = _read(raw, zone)
    results = await record(events) if events else []
    failed = [r for r in results if isinstance(r, GatewayError) and r.status >= 500]
    if failed:  # not persisted: do not confirm, the same changes come again
        raise failed[0]
    _commit_error(await _post(session, url, commit(options, password), "commitlaststatus"))
    orders = len({e.order_id for e in events})
    changed = sum(1 for r in results if getattr(r, "changed", False))
    return Pulled(orders, len(events), changed, rejected=unreadable)


def _read(raw: bytes, zone: ZoneInfo) -> tuple[list[NativeEvent], list[rejects.Rejected]]:
    """The events of the orders that read well, and the orders set aside (InvalidPayload for an
    answer that is an error or not MeaSoft's at all)."""
    events, unreadable = measoft_xml.parse_each(raw, local_zone=zone)
    return events, [rejects.of(u.error, u.where, u.order_id) for u in unreadable]


async def backfill_page(
    session: aiohttp.ClientSession,
    options: BaseModel,
    secrets: Mapping[str, str],
    since: date,
    state: Json,  # noqa: ARG001 - MeaSoft has no paging: one page, then done
    record: Record,
    zone: ZoneInfo,
) -> Page:
    """The history of every order created since `since`, in one `statusreq` (no
    `commitlaststatus`: the change feed the worker polls is not touched)."""
    assert isinstance(options, MeasoftOptions)
    until = datetime.now(zone).date()
    body = history_req(options, secrets["password"], since, until)
    raw = await _post(session, str(options.api_url), body, "statusreq")
    events, unreadable = _read(raw, zone)
    results = await record(events) if events else []
    failed = [r for r in results if isinstance(r, GatewayError) and r.status >= 500]
    if failed:
        raise failed[0]
    orders = len({e.order_id for e in events})
    changed = sum(1 for r in results if getattr(r, "changed", False))
    return Page(orders, len(events), changed, {}, done=True, total=orders, rejected=unreadable)
