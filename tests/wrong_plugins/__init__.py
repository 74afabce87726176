"""Deliberately wrong plugins, one per module: each is a mistake a careless author could ship,
and each must fail its conformance suite (``tests/test_conformance_meta.py`` proves it).

They are built on the built-in plugins where that keeps them small: the mistake is the only
thing that differs from a correct plugin, so the tests that fail are the ones that catch it.
"""
