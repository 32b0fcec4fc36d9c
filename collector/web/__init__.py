"""The L2 console: a web interface and REST API served by the collector."""
