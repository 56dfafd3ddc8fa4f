"""Channels consumers, one module per live feature."""
