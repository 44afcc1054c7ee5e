"""Intake's edges: the HTTP API, the Kafka publisher, rate limits, the SMS webhook."""
