"""Pantau notifier: routes classified reports to recipients and delivers alerts."""
