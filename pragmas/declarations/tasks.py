"""Pragma family: tasks (see pragmas/declarations/__init__.py)."""
