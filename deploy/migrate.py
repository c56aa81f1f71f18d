"""Migrate every service's schema, identity's included (stack.migrate_all); a Kubernetes Job / compose
one-shot runs this before the services."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from stack import migrate_all

if __name__ == "__main__":
    migrate_all(os.environ["ICTG_DATABASE_URL"])
    print("migrated")
