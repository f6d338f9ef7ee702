"""GitHub: the signed webhook receiver, event handlers and the REST client."""
