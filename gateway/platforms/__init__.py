"""Rules that belong to one platform and cannot be a table row (one module per platform)."""
