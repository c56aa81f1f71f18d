"""Subscriptions API (DESIGN §15): create, list, read, update, delete, rotate, ping, deliveries."""
