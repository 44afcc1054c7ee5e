"""Pantau's contracts: what crosses a process boundary, defined once.

Every service depends on this package and on nothing of another service.
A breaking change of an event schema is a new event ``type`` version and a
major version bump of this package.
"""

__version__ = "1.0.0"
