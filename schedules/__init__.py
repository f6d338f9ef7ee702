"""The calendar <-> Celery Beat adapter: Beat entries, the scheduler, the Beat lock. Imports no domain model."""
