"""The `gateway` command: serve, worker, check-mappings, export-openapi, translate, tenant,
fbo, backfill, seal-secrets."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from gateway.errors import GatewayError, MappingFileError
from gateway.settings import Settings


def _port(text: str) -> int:
    """An argparse type: a TCP port number."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1 to 65535)")
    return port


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from gateway.app import create_app
    from gateway.observability import configure_logging

    overrides: dict[str, object] = {
        k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None
    }
    overrides["worker_in_process"] = not args.no_worker
    settings = settings.model_copy(update=overrides)
    configure_logging(args.log_level, json=settings.log_json)
    app = create_app(settings)
    # log_config=None keeps our handlers; requests are logged by RequestTelemetry.
    uvicorn.run(
        app, host=settings.host, port=settings.port, log_level=args.log_level, log_config=None
    )
    return 0


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    """Deliver webhooks until SIGTERM or SIGINT; as many of these as wanted may run."""
    import asyncio
    import signal

    from gateway import heap
    from gateway.observability import Metrics, configure_logging
    from gateway.recording import Recorder
    from gateway.runtime import Runtime
    from gateway.storage import open_redis
    from webhooks.worker import Worker

    if args.metrics_port is not None:
        settings = settings.model_copy(update={"worker_metrics_port": args.metrics_port})
    configure_logging(args.log_level, json=settings.log_json)
    runtime = Runtime.load(settings)
    metrics = Metrics()
    exposition = None
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        try:
            exposition, _ = start_http_server(
                settings.worker_metrics_port, addr=settings.host, registry=metrics.registry
            )
        except OSError as exc:
            where = f"{settings.host}:{settings.worker_metrics_port}"
            print(f"error: cannot serve metrics on {where}: {exc.strerror}", file=sys.stderr)
            return 2

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with open_redis(settings) as client:
            recorder = Recorder.configured(runtime.tables, client, settings, metrics)
            worker = Worker(client, settings, runtime.renderer, metrics, recorder=recorder)
            # As the API does once it has started (gateway.app); freezing alone took the
            # worker's CPU per delivery from 80 to 76 µs (bench/delivery.py).
            heap.settle()
            await worker.run(stop)

    try:
        import uvloop  # the same loop uvicorn runs the API on (uvicorn[standard])
    except ImportError:  # pragma: no cover - uvloop has no Windows build
        asyncio.run(run())
    else:
        uvloop.run(run())
    finally:
        if exposition is not None:
            exposition.shutdown()
    return 0


def _progress_line(job: dict[str, object], elapsed: float, this_run: int) -> str:
    """`cscart backfill: page 3, 300 orders, 300 events, 120.5 orders/s, 300/1000, ETA 6s`."""
    orders, total = job["orders"], job["total"]
    assert isinstance(orders, int)
    rate = this_run / max(elapsed, 1e-6)
    line = (
        f"{job['platform']} backfill: page {job['pages']}, {orders} orders, {job['events']} "
        f"events, {rate:.1f} orders/s"
    )
    if isinstance(total, int) and total > 0:
        left = max(total - orders, 0)
        eta = f"{left / rate:.0f}s" if rate > 0 else "?"
        line += f", {min(orders, total)}/{total}, ETA {eta}"
    return line


def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    """Import a connector's history since a day; Ctrl-C stops after the current page and a
    later run with the same --since resumes from there."""
    import asyncio
    import signal
    import time
    from datetime import UTC, date, datetime, timedelta

    from gateway.connectors.service import Connectors
    from gateway.observability import Metrics
    from gateway.recording import Recorder
    from gateway.runtime import Runtime
    from gateway.storage import open_redis

    try:
        today = datetime.now(UTC).date()
        since = date.fromisoformat(args.since) if args.since else today - timedelta(days=90)
    except ValueError:
        print(f"error: {args.since!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    runtime = Runtime.load(settings)

    async def run() -> dict[str, object]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, stop.set)
        started = time.monotonic()
        this_run = [0]  # orders imported by this run (a resumed job counts the earlier ones)

        def progress(job: dict[str, object]) -> None:
            page = job.pop("page")
            assert isinstance(page, dict)
            this_run[0] += int(page["orders"])
            line = _progress_line(job, time.monotonic() - started, this_run[0])
            print(line, file=sys.stderr, flush=True)

        try:
            async with open_redis(settings) as client:
                recorder = Recorder.configured(runtime.tables, client, settings, Metrics())
                connectors = Connectors(client, settings, recorder)
                try:
                    return await connectors.backfill(
                        args.tenant, args.platform, since, on_progress=progress, stop=stop
                    )
                finally:
                    await connectors.close()
        finally:
            loop.remove_signal_handler(signal.SIGINT)

    job = asyncio.run(run())
    print(json.dumps(job, ensure_ascii=False))
    if job["error"]:
        return 1
    if not job["finished_at"]:
        print("stopped; run the same command again to resume", file=sys.stderr)
        return 130
    return 0


def _fbo_schedule(args: argparse.Namespace, settings: Settings) -> int:
    """Print the FBO timetable of a shipment day as a table."""
    from datetime import UTC, date, datetime, timedelta

    from gateway.fbo.checks import check_zone
    from gateway.fbo.table import schedule_table
    from gateway.i18n import choose_language
    from gateway.runtime import Runtime

    try:
        shipment = date.fromisoformat(args.date)
    except ValueError:
        print(f"error: {args.date!r} is not a date (YYYY-MM-DD)", file=sys.stderr)
        return 2
    runtime = Runtime.load(settings)
    lang = choose_language(args.lang, None)
    schedule = runtime.timetable.compute(
        shipment,
        zone=check_zone(args.timezone),
        mode=args.mode,
        units=args.units,
        flags=args.flag or (),
        now=datetime.now(UTC),
        lead=timedelta(hours=3),
    )
    print(schedule_table(runtime.fbo.schedule(schedule, lang)))
    return 0


def _seal_secrets(_: argparse.Namespace, settings: Settings) -> int:
    """Seal under GATEWAY_SECRET_KEY every webhook secret and signing key stored in the clear
    (before a key was set) or under a key in GATEWAY_SECRET_KEY_PREVIOUS, and every connector's
    credentials sealed under such a key (what is written anew is sealed under the current key)."""
    import asyncio

    from gateway.connectors.configuration import reseal
    from gateway.sealing import box_for
    from gateway.storage import open_redis
    from gateway.storage.keys import TenantKeys
    from gateway.storage.tenants import TenantStore
    from webhooks.endpoints import EndpointStore

    async def run() -> dict[str, dict[str, int]]:
        async with open_redis(settings) as client:
            endpoints = EndpointStore.configured(client, settings)
            credentials = box_for(settings, "connector credentials")
            done: dict[str, dict[str, int]] = {}
            for t in await TenantStore(client, settings.redis_prefix).all():
                tenant = t["tenant"]
                keys = TenantKeys(settings.redis_prefix, tenant)
                done[tenant] = {
                    "endpoints": await endpoints.seal(tenant),
                    "connectors": await reseal(client, keys, credentials),
                }
            return done

    done = asyncio.run(run())
    print(
        json.dumps(
            {
                "endpoints_sealed": sum(d["endpoints"] for d in done.values()),
                "connectors_resealed": sum(d["connectors"] for d in done.values()),
                "by_tenant": done,
            }
        )
    )
    return 0


def _check_mappings(_: argparse.Namespace, settings: Settings) -> int:
    from gateway.catalog_check import check_catalogs
    from gateway.i18n import load_catalogs
    from gateway.tables.loader import load_tables

    tables = load_tables(settings.mappings_dir)
    load_catalogs(settings.locales_dir)
    problems = check_catalogs(settings.mappings_dir, settings.locales_dir)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"{len(problems)} catalog problem(s)", file=sys.stderr)
        return 1
    rows = sum(
        len(t.statuses) + len(t.payment_statuses) + len(t.fulfillment_statuses)
        for t in tables.platforms.values()
    )
    print(
        f"ok: {len(tables.platforms)} platforms, {rows} native codes, "
        f"mapping_version {tables.version}; catalogs complete"
    )
    return 0


def _export_openapi(args: argparse.Namespace, settings: Settings) -> int:
    from gateway import openapi
    from gateway.app import create_app

    text = openapi.dump(openapi.build(create_app(settings)))
    target = Path(args.output) if args.output else openapi.OPENAPI_FILE
    if args.check:
        current = target.read_text(encoding="utf-8") if target.is_file() else ""
        if current != text:
            print(f"{target} is out of date: run `gateway export-openapi`", file=sys.stderr)
            return 1
        print(f"{target} is current")
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target}")
    return 0


def _translate(args: argparse.Namespace, settings: Settings) -> int:
    from gateway.i18n import choose_language
    from gateway.runtime import Runtime
    from gateway.translate import CloudCartStatus, StatusInput

    runtime = Runtime.load(settings)
    status: StatusInput = args.code
    if args.payment is not None or args.fulfillment is not None:
        status = CloudCartStatus(args.code, args.payment, args.fulfillment)
    lang = choose_language(args.lang, None)
    rendered = runtime.translate(
        args.platform,
        status,
        lang=lang,
        target=args.target,
        lenient=args.lenient,
        variant=args.variant,
    )
    print(json.dumps(json.loads(rendered.body), ensure_ascii=False, indent=2))
    return 0


def _tenant(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from gateway.storage import open_redis
    from gateway.storage.tenants import TenantStore

    async def run() -> object:
        async with open_redis(settings) as client:
            store = TenantStore(client, settings.redis_prefix)
            action = args.tenant_action
            if action == "create":
                tenant, key = await store.create(args.name)
                return {"tenant": tenant, "api_key": str(key)}
            if action == "list":
                return {"tenants": await store.all()}
            if action == "keys":
                return {
                    "tenant": args.name,
                    "keys": [k.doc() for k in await store.list_keys(args.name)],
                }
            if action == "revoke":
                return {
                    "tenant": args.name,
                    "revoked": (await store.revoke(args.name, args.key)).doc(),
                }
            if action == "rotate":
                new = await store.rotate(args.name, args.key)
                field = "api_key" if new.kind == "gwk" else "ingest_token"
                return {"tenant": args.name, field: str(new), "revoked": args.key}
            if action == "ingest-token":
                return {
                    "tenant": args.name,
                    "ingest_token": str(await store.issue("gwi", args.name)),
                }
            new_key = await store.issue("gwk", args.name)
            return {"tenant": args.name, "api_key": str(new_key)}

    print(json.dumps(asyncio.run(run()), ensure_ascii=False))
    return 0


def _add_tenant_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tenant = verbs.add_parser("tenant", help="create tenants (shops) and manage their keys")
    actions = tenant.add_subparsers(dest="tenant_action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a tenant; prints its first API key")
    create.add_argument("name", help="tenant id: lower-case letters, digits, hyphens")
    actions.add_parser("list", help="list tenants")
    for name, text in (
        ("keys", "list a tenant's API keys and ingest tokens (prefixes only)"),
        ("add-key", "issue another API key"),
        ("ingest-token", "issue an ingest token (for platforms that cannot send a Bearer key)"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("name", help="tenant id")
    for name, text in (
        ("revoke", "revoke a key or ingest token (by the prefix `keys` shows, or whole)"),
        ("rotate", "issue a new key (or token) of the same kind and revoke the old one"),
    ):
        action = actions.add_parser(name, help=text)
        action.add_argument("name", help="tenant id")
        action.add_argument("key", help="the prefix `gateway tenant keys` shows, or the key")
    tenant.set_defaults(run=_tenant)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gateway", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    serve = verbs.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", help="interface (default 127.0.0.1, or GATEWAY_HOST)")
    serve.add_argument("--port", type=_port, help="port (default 8000, or GATEWAY_PORT)")
    serve.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    serve.add_argument(
        "--no-worker",
        action="store_true",
        help="do not deliver webhooks in this process (run `gateway worker` instead)",
    )
    serve.set_defaults(run=_serve)

    worker = verbs.add_parser("worker", help="deliver webhooks (many may run on one Redis)")
    worker.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
    worker.add_argument(
        "--metrics-port",
        type=_port,
        help="serve Prometheus metrics at /metrics on this port (or GATEWAY_WORKER_METRICS_PORT)",
    )
    worker.set_defaults(run=_worker)

    seal = verbs.add_parser(
        "seal-secrets",
        help="seal under GATEWAY_SECRET_KEY what is stored in the clear or under an older key",
    )
    seal.set_defaults(run=_seal_secrets)

    check = verbs.add_parser("check-mappings", help="validate every mapping table and catalog")
    check.set_defaults(run=_check_mappings)

    export = verbs.add_parser("export-openapi", help="write openapi/openapi.json")
    export.add_argument("--check", action="store_true", help="fail if the file is out of date")
    export.add_argument("--output", help="another path to write")
    export.set_defaults(run=_export_openapi)

    tr = verbs.add_parser("translate", help="translate one native status and print the JSON")
    tr.add_argument("platform")
    tr.add_argument("code", help="native code (CloudCart: the order status)")
    tr.add_argument("--lang", default=None, help="ru, en, fr or el (default en)")
    tr.add_argument("--target", help="also give this platform's code")
    tr.add_argument("--variant", help="e.g. fbo for Kak2c PACKED")
    tr.add_argument("--payment", help="CloudCart payment status")
    tr.add_argument("--fulfillment", help="CloudCart fulfilment status")
    tr.add_argument("--lenient", action="store_true", help="unknown code → canonical 'unknown'")
    tr.set_defaults(run=_translate)
    _add_tenant_verbs(verbs)
    fbo = verbs.add_parser("fbo", help="Kak2c FBO shipment deadlines")
    fbo_verbs = fbo.add_subparsers(dest="fbo_action", required=True, metavar="ACTION")
    sched = fbo_verbs.add_parser("schedule", help="print the timetable of a shipment day")
    sched.add_argument("date", help="shipment day, YYYY-MM-DD")
    sched.add_argument("--units", type=int, default=0, help="units in the order")
    sched.add_argument("--lang", default="en", help="ru, en, fr or el (default en)")
    sched.add_argument("--timezone", default="Europe/Moscow", help="IANA zone of the warehouse")
    sched.add_argument(
        "--mode", choices=["calendar", "business"], default="calendar", help="how days count"
    )
    sched.add_argument(
        "--flag",
        action="append",
        choices=[
            "oversized",
            "fragile",
            "special_assembly",
            "special_packing",
            "delivery_by_kak2c",
        ],
        help="special goods or delivery by Kak2c (repeatable)",
    )
    sched.set_defaults(run=_fbo_schedule)

    backfill = verbs.add_parser(
        "backfill", help="import a connector's history since a day (resumable; Ctrl-C stops)"
    )
    backfill.add_argument("platform", help="measoft, cscart or cloudcart")
    backfill.add_argument("--tenant", required=True, help="tenant id")
    backfill.add_argument("--since", help="first day, YYYY-MM-DD (default 90 days ago)")
    backfill.set_defaults(run=_backfill)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result: int = args.run(args, Settings())
    except MappingFileError as exc:
        print(f"mapping error: {exc}", file=sys.stderr)
        return 2
    except GatewayError as exc:
        print(f"error: {exc.detail}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
