"""Conformance suites: abstract pytest classes a plugin author subclasses to check a plugin
against its interface, run from the installed ``controlplane`` package (no checkout needed).

- ``conformance.plugins``: one module per plugin kind (``artifact_store``), each with test
  classes and the fixtures an author overrides.
- ``conformance.capabilities``: the optional capabilities a plugin may declare; a test that
  needs one the plugin does not declare is skipped, never skipped by name.
- ``conformance.pytest_plugin``: loaded by pytest through the ``pytest11`` entry point; it
  registers the ``requires_capability`` marker and holds the capability check.

The API suite (``conformance.api``, for other implementations of the gRPC contract) will sit
beside ``plugins`` and reuse the same capability mechanism.
"""
