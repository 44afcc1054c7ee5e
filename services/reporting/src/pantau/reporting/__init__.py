"""Pantau reporting: MongoDB read models, the query API and the operator dashboard."""
