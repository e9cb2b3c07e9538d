# @TEST-DOC: The synthesized known-nodes scenario: skype.log and notice.log equal the Python engine's.
# @TEST-EXEC: zeek -C -r $TRACES/skype-known-nodes.pcap $PACKAGE
# @TEST-EXEC: $SCRIPTS/canonify-skype-log skype.log >skype.canon
# @TEST-EXEC: $SCRIPTS/canonify-skype-log notice.log >notice.canon
# @TEST-EXEC: btest-diff skype.canon
# @TEST-EXEC: btest-diff notice.canon
