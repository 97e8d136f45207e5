"""Pragma family: running (see pragmas/declarations/__init__.py)."""
