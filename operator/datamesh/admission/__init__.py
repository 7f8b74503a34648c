"""Admission: what the validating webhook decides (review.py) and the certificate it serves with (certs.py)."""
