"""Formats, units, slot layout, method profiles and the local footprint maths: the plaintext methodology."""
