"""The ``pantau`` operator CLI."""
