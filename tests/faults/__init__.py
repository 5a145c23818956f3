"""The fault suite: syncs against real servers that are killed, cut off, stalled or raced."""
