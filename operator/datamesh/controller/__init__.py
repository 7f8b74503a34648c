"""The operator: kopf handlers (handlers.py) over plain, typed reconcile logic that knows nothing of kopf."""
