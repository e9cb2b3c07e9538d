"""The bulk engine (engine.py): connections that can never match counted in bulk with numpy,
the rest through the reference path; analyze.py falls back to the reference when it cannot."""
