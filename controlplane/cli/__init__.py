"""The ``mlctl`` command line (``python -m controlplane.cli`` works too); see
:func:`controlplane.cli.main.main`."""
