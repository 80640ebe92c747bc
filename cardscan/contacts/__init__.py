"""Contacts: what a field is and when it needs review, checks of user edits, duplicates and merges."""
