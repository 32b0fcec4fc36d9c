"""rdiag agent: gathers workstation telemetry and streams it to a collector.

The agent never imports the collector; the collector may import the agent's
records and common helpers (one distribution, one vocabulary).
"""

__version__ = "0.1.0"
