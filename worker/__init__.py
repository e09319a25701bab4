"""The Temporal worker: the Python package the image runs (`python -m worker`).

Its settings come from the environment through `temporal_worker_spec`, the contract it shares
with the TemporalWorker component.
"""
