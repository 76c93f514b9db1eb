"""Entry point ``slow``: sleeps HAZARD_SLEEP seconds at import (a plugin stuck on a lock or
a network drive)."""

from __future__ import annotations

import os
import time

COREFW_PLUGIN_API = ">=1,<2"

time.sleep(float(os.environ.get("HAZARD_SLEEP", "0")))
