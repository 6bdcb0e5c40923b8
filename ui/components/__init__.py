"""Dash components: pure functions from data to layout or figures."""
