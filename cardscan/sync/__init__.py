"""Contacts and follow-ups out to the user's own accounts: CardDAV address books (IMAP drafts: followup.imap)."""
