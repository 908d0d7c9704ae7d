"""Reporters: pure functions from a ScanResult to text. They know nothing of how it was made."""
