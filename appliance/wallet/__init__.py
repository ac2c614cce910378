"""Watch-only wallet: descriptors and addresses, chain sources (no spending keys, ever)."""
