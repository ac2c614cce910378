"""Staff on the device: the short id a person is known by, made from their name.

An id names a person in every record (``staff.id``) and in lockout subjects (``staff:<id>``), so
it is plain: lower-case ASCII letters and digits joined by ``-``, never reused for someone else.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from appliance.core.catalog import fold

MAX_ID_LENGTH = 24


def staff_id_for(name: str, taken: Collection[str]) -> str:
    """The id ``name`` gives ("Ana María" → ``ana-maria``), with ``-2``, ``-3``… when it is
    ``taken`` already; ``staff`` for a name with no letter or digit."""
    words = re.findall(r"[a-z0-9]+", fold(name))
    base = "-".join(words)[:MAX_ID_LENGTH].strip("-") or "staff"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate
