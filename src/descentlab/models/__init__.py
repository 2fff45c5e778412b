"""Models the `model` config group builds."""
