"""Settings split by environment: base, dev, test, prod (all driven by environment variables)."""
