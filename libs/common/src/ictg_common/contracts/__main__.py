"""`python -m ictg_common.contracts [DOCS_DIR]`: regenerate the event reference (default `docs/`).

Writes `schemas/<type>.json`, `asyncapi.yaml` and `events.md`, and removes schema files of types that
no longer exist. Run it after changing a model; a test fails while the checked-in files are stale.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .reference import files


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m ictg_common.contracts", description=__doc__)
    parser.add_argument("docs", nargs="?", default="docs", type=Path, help="the docs directory (default: docs)")
    docs: Path = parser.parse_args().docs
    wanted = files()
    (docs / "schemas").mkdir(parents=True, exist_ok=True)
    for stale in (docs / "schemas").glob("*.json"):
        if f"schemas/{stale.name}" not in wanted:
            stale.unlink()
    for path, text in wanted.items():
        (docs / path).write_text(text, encoding="utf-8")
    print(f"wrote {len(wanted)} files under {docs}")


if __name__ == "__main__":
    main()
