"""Connectors of tenants: configuration (credentials sealed), polling under a lease, health.

The API stores and shows a connector and can poll it at once; the delivery worker polls every
connector that is due, one worker per tenant and platform at a time (a Redis lease), so many
workers never ask a platform twice for the same changes. A poll reads the connector again once
it holds the lease, and storing a connector for another account (`SOURCE_FIELDS`) takes the
lease while it drops the old account's state, so no poll of the old account writes after it.

The parts live by concept: `runtime` (what they share), `configuration`, `polling` and
`backfill`; the platforms known are in `registry`.
"""

from __future__ import annotations

from gateway.connectors.backfill import Backfilling
from gateway.connectors.polling import Polling


class Connectors(Polling, Backfilling):
    """Tenants' connectors as the API, the CLI and the worker use them: configured
    (`Configuring`), polled (`Polling`) and backfilled (`Backfilling`)."""
