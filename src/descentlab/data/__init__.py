"""Data modules the `data` config group builds."""
