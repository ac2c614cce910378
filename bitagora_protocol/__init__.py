"""The contract shared by the device, central and any third-party verifier: the journal record
format (canonical bytes, hash chain, signatures), request signatures, and money in minor units.

Imports nothing of the project (docs/PROTOCOL.md is written from these modules)."""
