"""Pragma family: graph (see pragmas/declarations/__init__.py)."""
