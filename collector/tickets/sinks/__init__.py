"""Outbound helpdesk sinks: one small adapter per system behind the port in base.py."""
