"""Stage 1: Zeek's connection model -- a connection's state (orientation, inspection window,
in-order streams), TCP close as Zeek's session manager sees it, and Zeek's port-based
orientation flips.  It knows no signature: the detector (``detect/``) decides which flows
are worth inspecting."""
