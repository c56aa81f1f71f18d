"""Councils as clients (DESIGN §14): responsibility periods, their view of a case, identifiers, feed, export."""
