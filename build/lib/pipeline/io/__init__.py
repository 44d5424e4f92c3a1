"""Input and records: files to letters and text rows (one input layer for every command),
the record types, the resumable job and its writers."""
