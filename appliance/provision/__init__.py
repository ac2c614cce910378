"""Provisioning a device: first boot from ``bitagora-setup.toml``, ``bitagora provision`` and
``bitagora factory-reset`` (docs/TECHNICIAN.md, docs/ARCHITECTURE.md "Provisioning")."""
