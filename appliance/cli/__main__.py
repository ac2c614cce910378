"""``python -m appliance.cli``: the ``bitagora`` command."""

import sys

from appliance.cli import main

sys.exit(main())
