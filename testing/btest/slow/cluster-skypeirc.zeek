# @TEST-DOC: SkypeIRC.cap (real, 2006) split over a manager, a proxy and two workers gives the standalone skype.log and notices, replayed in real time (6 minutes: `make btest-slow`, not part of `make test`).  At 10x, the 114 ms between a probe to 67.71.69.121:12492 and the TCP that follows it shrink below what the host context needs to reach the other worker on a loaded 2-core machine.
# @TEST-REQUIRES: test -x "$PYTHON" && test -f "$SHARED_PCAPS/skype/SkypeIRC.cap"
# @TEST-PORT: BROKER_MANAGER_PORT
# @TEST-PORT: BROKER_PROXY1_PORT
# @TEST-PORT: BROKER_WORKER1_PORT
# @TEST-PORT: BROKER_WORKER2_PORT
# @TEST-EXEC: cp $SHARED_PCAPS/skype/SkypeIRC.cap trace.pcap
# @TEST-EXEC: SPEEDUP=1 $SCRIPTS/run-cluster
