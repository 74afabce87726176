"""Conformance suites for plugin kinds, one module per kind (``controlplane.interfaces``)."""
