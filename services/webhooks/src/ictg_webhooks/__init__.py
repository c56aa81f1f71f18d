"""webhooks: signed push of every change to councils and partners."""
