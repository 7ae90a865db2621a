"""Outgoing signed webhooks (Standard Webhooks); filled in by the webhooks issue."""
