"""What ``query`` and ``report`` need beyond the core install: pandas and matplotlib."""

from __future__ import annotations

from ..errors import SkypewatchError


def require_analyst_extra() -> None:
    try:
        import matplotlib
        import pandas  # noqa: F401
    except ImportError:
        raise SkypewatchError(
            "this command needs pandas and matplotlib: pip install 'skypewatch[analyst]'"
        ) from None
    import matplotlib

    matplotlib.use("Agg")
