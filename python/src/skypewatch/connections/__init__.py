"""Stage 1: packets grouped into connections the way Zeek groups them (same uid boundaries,
orientation, timeouts and TCP close), each handed to the signatures as its payload arrives."""
