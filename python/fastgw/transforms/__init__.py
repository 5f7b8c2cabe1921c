"""Request and response transforms: parameter mappings (and, later, templates)."""
