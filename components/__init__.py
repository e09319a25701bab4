"""Reusable Pulumi components and the pure helpers the stack program uses to build them."""
