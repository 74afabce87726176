"""Conformance suites: abstract pytest classes a plugin author subclasses to check a plugin
against its interface, run from the installed ``controlplane`` package (no checkout needed).

- ``conformance.plugins``: one module per plugin kind (``artifact_store``, ``executor``,
  ``feature_store``, ``serving_backend``, ``drift_detector``, ``alert_channel``), each with test
  classes and the fixtures an author overrides.
- ``conformance.capabilities``: the optional capabilities a plugin may declare; a test that
  needs one the plugin does not declare is skipped, never skipped by name.
- ``conformance.api``: the API suite, run against any server that implements the contract:
  ``pytest --pyargs conformance.api --target HOST:PORT --token PLATFORM_ADMIN_KEY``.
- ``conformance.pytest_plugin``: loaded by pytest through the ``pytest11`` entry point; it
  registers the ``requires_capability`` marker, the API suite's options, and holds the
  capability check.
"""
