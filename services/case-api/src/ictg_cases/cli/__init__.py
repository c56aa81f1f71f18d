"""Command-line tools of the case API (`python -m ictg_cases.cli.<tool>`); the logic lives in the
feature packages (`admin/reconcile.py`, `admin/replay.py`) these call."""
