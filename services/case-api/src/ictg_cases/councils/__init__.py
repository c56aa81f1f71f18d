"""Councils (local authorities, the children's corporate parents) as clients: responsibility periods, their view of a case, identifiers, feed, export."""
