"""The file formats of FORMATS.md as pydantic models (factor set, node data, result)."""
