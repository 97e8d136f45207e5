"""Pragma family: scripts (see pragmas/declarations/__init__.py)."""
