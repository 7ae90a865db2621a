"""Status translation gateway: canonical order and shipment statuses for four platforms."""

__version__ = "0.1.0"
