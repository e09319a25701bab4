"""The Temporal worker: Docker build context and Python package (`python -m worker`).

Importing this package must stay cheap and dependency-free: the Pulumi program imports
`worker.contract` without having `temporalio` installed.
"""
