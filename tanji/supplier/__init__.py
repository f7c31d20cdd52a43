"""A supplier's own data before it reaches a node: templates, workbooks, validate-only checks, a private preview."""
