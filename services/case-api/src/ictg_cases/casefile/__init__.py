"""The case as it is read: the case list, one case, its timeline and every record of every kind."""
