"""Thin adapters around the pure core: Kafka consumer/publisher, replay."""
