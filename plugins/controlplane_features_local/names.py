"""Feature view names: ``tenant/view`` style paths that are safe as directory names."""

from __future__ import annotations

import re

#: One segment: 1-128 ASCII letters, digits, ``_`` or ``-`` (so never ``.`` or ``..``).
_SEGMENT = re.compile(r"[A-Za-z0-9_-]{1,128}")
#: The longest name accepted, all segments and slashes together.
MAX_VIEW_LENGTH = 512


def validate_view(view: object) -> str:
    """Returns ``view`` if it is one or more ``/``-separated segments; ``ValueError`` if not."""
    if not isinstance(view, str):
        raise ValueError(f"a feature view name is a string, not {type(view).__name__}")
    if len(view) > MAX_VIEW_LENGTH:
        raise ValueError(f"feature view name longer than {MAX_VIEW_LENGTH} characters")
    for segment in view.split("/"):
        if not _SEGMENT.fullmatch(segment):
            raise ValueError(
                f"invalid feature view name {view!r}: segments of 1-128 ASCII letters, digits, "
                "'_' or '-', separated by single '/'"
            )
    return view
