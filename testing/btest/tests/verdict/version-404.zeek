# @TEST-DOC: A version check answered by a bare "HTTP/1.0 404 Not Found" fires skype_404 (the responder looks like a Skype node) beside http_version_check: the originator is still the client, at the version_check stage, and Zeek and the Python engine say the same.
# @TEST-REQUIRES: test -x "$PYTHON" && test -x "$SKYPEWATCH"
# @TEST-EXEC: $PYTHON $SCRIPTS/craft-version-404 trace.pcap
# @TEST-EXEC: zeek -C -r trace.pcap $PACKAGE
# @TEST-EXEC: zeek-cut client peer stage peer_role < skype.log > verdict
# @TEST-EXEC: test "$(cat verdict)" = "$(printf '10.0.0.5\t212.72.49.131\tversion_check\tupdate_server')"
# @TEST-EXEC: zeek-cut signatures < skype.log | tr ',' '\n' | grep -qx skype_404
# @TEST-EXEC: $SKYPEWATCH analyze trace.pcap -o python -q
# @TEST-EXEC: $SCRIPTS/canonify-skype-log skype.log > zeek.canon
# @TEST-EXEC: $SCRIPTS/canonify-skype-log python/skype.log > python.canon
# @TEST-EXEC: diff python.canon zeek.canon
