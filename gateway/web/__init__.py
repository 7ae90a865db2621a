"""In the browser: the storefront widget, the demo page and the operator console."""
