"""Must never be imported when disabled: records the import, then fails it."""

from tests.plugin_fixtures import IMPORTED

IMPORTED.append(__name__)
raise AssertionError(f"{__name__} was imported although it is disabled")
