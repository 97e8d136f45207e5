"""Pragma family: connection (see pragmas/declarations/__init__.py)."""
