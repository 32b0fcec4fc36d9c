"""rdiag collector: receives agent streams, stores them, diagnoses, opens tickets."""

__version__ = "0.1.0"
