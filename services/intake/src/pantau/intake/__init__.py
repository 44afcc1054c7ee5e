"""Pantau intake: authenticates clients, validates reports, publishes ``report.submitted``."""
