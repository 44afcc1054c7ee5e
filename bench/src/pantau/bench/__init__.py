"""Pantau's load generator, benchmark and soak (``python -m pantau.bench``).

Drives the running local stack over HTTP from several generator processes at fixed
rates and searches the maximum sustained rate; times when each report reaches the
classified topic, when the notifier announces its alert as sent, and when reporting's
read model shows it; samples CPU, RSS and run-queue wait of every process and each
consumer group's lag; measures raw aiokafka produce/consume of the same payloads in the
same run. ``soak`` holds one rate for a long time and reports memory and lag slopes.
"""
