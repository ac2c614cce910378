"""BitAgora POS appliance."""

__version__ = "0.1.0"
