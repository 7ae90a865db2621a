"""Pull connectors: the gateway asks a platform's API for status changes (issue 7).

MeaSoft's change feed (`statusreq` with `changes=ONLY_LAST`, then `commitlaststatus`) is
implemented; CS-Cart polling and CloudCart reconciliation follow the same shape.
"""
