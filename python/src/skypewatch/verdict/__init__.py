"""Stage 3: from a connection's signature hits, and what other connections proved about its
hosts (the host context), to its skype.log line or to no line at all."""
