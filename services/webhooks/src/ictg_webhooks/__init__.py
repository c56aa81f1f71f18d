"""webhooks: signed push of every change to councils and partners (DESIGN §15)."""
