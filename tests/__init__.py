"""The shop's tests (see README: scripts/test)."""

import pytest

# The shared helpers' asserts explain their failures like the tests' own.
pytest.register_assert_rewrite("tests.support")
