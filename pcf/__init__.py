"""pcf: the shared core of tanji — formats, method profiles, the local footprint and its maths."""
