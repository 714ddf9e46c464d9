"""The revisions, oldest first: ``0001_baseline`` and each change after it."""
