"""Trainer callbacks: each one view of the run, switched on and off in `conf/callbacks/`."""
