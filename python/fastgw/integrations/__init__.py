"""Integrations: what a route sends its requests to (HTTP backends, mocks)."""
