"""Composition roots: the worker, the gateway, the `aiaas` command and `aiaas up`, tool registration.

The only package that imports every other; nothing imports it.
"""
