"""Fixtures for the ports of Zircon's core-tests (zircon/system/utest/core)."""

from __future__ import annotations

import pytest

from microsim.objects.process import Process


@pytest.fixture
def p(kernel) -> Process:  # type: ignore[no-untyped-def]
    """A process of a default kernel (every installed plugin)."""
    return kernel.create_process("coretest")  # type: ignore[no-any-return]
