"""The versioned rating tables, shipped inside the package as ``underwriting.rating_tables``.

Data only: one folder per version (see ``underwriting.rating``).
"""
