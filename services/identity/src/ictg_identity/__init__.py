"""identity: the platform's token service (OAuth 2.0 client credentials) and its client registry."""
