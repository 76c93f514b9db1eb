"""Plugins that misbehave on request (environment variables), for the manager's tests."""
