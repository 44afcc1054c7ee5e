"""Intake's pure domain: validation rules, report ids, event building, SMS parsing."""
