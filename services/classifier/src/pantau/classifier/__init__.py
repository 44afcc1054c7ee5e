"""Pantau classifier: tags category, severity and institutions of each report."""
