# @TEST-DOC: SkypeIRC.cap (real, 2006) split over a manager, a proxy and two workers gives the standalone skype.log and notices.
# @TEST-REQUIRES: test -x "$PYTHON" && test -f "$SHARED_PCAPS/skype/SkypeIRC.cap"
# @TEST-PORT: BROKER_MANAGER_PORT
# @TEST-PORT: BROKER_PROXY1_PORT
# @TEST-PORT: BROKER_WORKER1_PORT
# @TEST-PORT: BROKER_WORKER2_PORT
# @TEST-EXEC: cp $SHARED_PCAPS/skype/SkypeIRC.cap trace.pcap
# @TEST-EXEC: $SCRIPTS/run-cluster
