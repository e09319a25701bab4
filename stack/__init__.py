"""This repository's Pulumi stack: config -> settings -> component inputs -> exports.

The component package (`components/`) never reads stack config; this package does, and turns it
into the package's inputs.
"""
