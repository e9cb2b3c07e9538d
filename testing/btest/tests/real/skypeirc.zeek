# @TEST-DOC: SkypeIRC.cap (2006, Skype 1.2 on Linux): skype.log and notice.log equal the Python engine's.
# @TEST-REQUIRES: test -e $SHARED_PCAPS/skype/SkypeIRC.cap
# @TEST-EXEC: zeek -C -r $SHARED_PCAPS/skype/SkypeIRC.cap $PACKAGE
# @TEST-EXEC: $SCRIPTS/canonify-skype-log skype.log >skype.canon
# @TEST-EXEC: $SCRIPTS/canonify-skype-log notice.log >notice.canon
# @TEST-EXEC: btest-diff skype.canon
# @TEST-EXEC: btest-diff notice.canon
