"""Composition root: settings, wiring, the command line. The only package that knows everything."""
