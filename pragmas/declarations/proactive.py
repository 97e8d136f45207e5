"""Pragma family: proactive (see pragmas/declarations/__init__.py)."""
