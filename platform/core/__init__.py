"""Core: operations shared by every concept (bootstrap of a fresh install)."""
