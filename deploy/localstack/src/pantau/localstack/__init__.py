"""The local stack without Docker: a real Kafka broker, a MongoDB-wire server and an SMTP sink."""
