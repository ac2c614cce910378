"""BitAgora central: the fleet backend (enrollment, signed journal ingest, heartbeats, ops
dashboard, metrics) on PostgreSQL. It shares only ``appliance.core`` with the device software."""
