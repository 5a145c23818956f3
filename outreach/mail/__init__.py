"""Mail in: parsing, threading, IMAP sync, mbox/Maildir import, the parse worker and the ingest pipeline."""
