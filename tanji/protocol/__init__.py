"""The protocol: signed envelopes, the federation list, the transparency log, completeness, limits."""
