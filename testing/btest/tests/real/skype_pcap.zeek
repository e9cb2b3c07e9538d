# @TEST-DOC: nDPI's skype.pcap (2015, Skype 7 on a Mac): skype.log and notice.log equal the Python engine's.
# @TEST-REQUIRES: test -e $SHARED_PCAPS/skype/skype.pcap
# @TEST-EXEC: zeek -C -r $SHARED_PCAPS/skype/skype.pcap $PACKAGE
# @TEST-EXEC: $SCRIPTS/canonify-skype-log skype.log >skype.canon
# @TEST-EXEC: $SCRIPTS/canonify-skype-log notice.log >notice.canon
# @TEST-EXEC: btest-diff skype.canon
# @TEST-EXEC: btest-diff notice.canon
