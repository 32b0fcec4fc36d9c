"""rdiag collector: receives agent streams, stores them, diagnoses, opens tickets."""

__version__ = "0.1.0"

# Compiled modules (collector/native.py) are used only when built from the current source.
from collector import native as _native

_native.install()
