"""Helpers that unit, live-server and browser tests share; fixtures stay in conftest.py."""
