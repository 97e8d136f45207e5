"""Pragma family: help (see pragmas/declarations/__init__.py)."""
