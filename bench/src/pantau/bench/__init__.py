"""Pantau's load generator and latency benchmark (``python -m pantau.bench``).

Drives the running local stack over HTTP from several generator processes, times
when each report reaches the classified topic, the alerts topic and reporting's
read model, and measures a raw aiokafka produce baseline in the same run.
"""
