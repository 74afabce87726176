"""A plugin whose import fails (a missing optional dependency, a syntax slip...)."""

raise RuntimeError("cannot reach the licence server")
