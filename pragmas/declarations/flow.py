"""Pragma family: flow (see pragmas/declarations/__init__.py)."""
