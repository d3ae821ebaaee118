"""Test kit for microsim and its plugins: pytest fixtures and trace helpers.

The fixtures are registered with pytest through the `pytest11` entry point, so any
project that installs microsim can use them: `kernel`, `proc`, `make_kernel`, `trace`.
"""

from microsim.testing.capture import TraceCapture

__all__ = ["TraceCapture"]
