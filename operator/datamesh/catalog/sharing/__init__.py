"""Delta Sharing over the published products, one recipient per consumer domain (docs/sharing.md).

Naming: a product's share is named after the product, its one schema after the producing domain, its one table
after the product again, so a recipient reads `customers.sales.customers`. What a recipient may list and read is
decided at every request by the same governance decision that resolves a consuming product's input access
(`decide_input_access` for the recipient domain and its team groups), so revoking a grant revokes the share at
once. The protocol cannot mask columns, so a recipient whose grant says `mask` or `exclude` is served the
product's masked copy (`copy.py`), never the product's own files, and is refused when no current copy exists.
"""
