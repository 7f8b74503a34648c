"""Monitoring a product sets up for its owners: its Prometheus alert rules (rules.py)."""
