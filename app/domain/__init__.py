"""Domain rules: plain Python, no Flask request, never commits."""
