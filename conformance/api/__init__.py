"""The API conformance suite: checks any server that implements the ``controlplane.v1`` gRPC
contract (``api/controlplane/v1``, ``docs/api.md``), through the contract alone.

Run it from the installed package against a running server::

    pytest --pyargs conformance.api --target HOST:PORT --token PLATFORM_ADMIN_KEY [--tls-ca PEM]

The suite creates two tenants named ``conf-<random>-a`` and ``conf-<random>-b`` with a viewer,
an editor and an admin each, works only inside them, and deletes them at the end (best effort).
Without ``--target`` every test is skipped.
"""
