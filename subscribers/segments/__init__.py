"""Segments: live filters over subscribers (rules.py: the tree and its validation; compile.py:
the tree as one SQL condition)."""
