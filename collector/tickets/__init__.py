"""Findings → pre-filled tickets (rendering here; lifecycle in the store)."""
