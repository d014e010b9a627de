"""Runnable TCLearn processes: thin loops over the library, one per role."""
