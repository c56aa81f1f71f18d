"""Command-line tools of metrics (`python -m ictg_metrics.cli.<tool>`); the services' own logic lives
in the feature packages (`admin/rebuild.py`, `admin/reconcile.py`) these call."""
