"""Delivery channels: one module each, every one a Channel (base.py) that sends a batch of outbox rows."""
