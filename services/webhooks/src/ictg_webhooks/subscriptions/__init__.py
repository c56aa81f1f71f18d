"""Subscriptions API: create, list, read, update, delete, rotate, ping, deliveries."""
