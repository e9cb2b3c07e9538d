# @TEST-DOC: Eight TCP fallback chains (a super node's port, then 443 and 80, every SYN unanswered, attempts 3-900 microseconds apart) whose attempts a two-worker split sends to different workers in six of them (Traces/skype-split-chains.pcap, Scripts/craft-split-chains): the cluster writes the standalone skype.log and notices, with the workers in lockstep on the capture's clock, and again with worker-1 running 7 s ahead of worker-2 -- further than Zeek's 5 s attempt timeout, so that only the verdicts held for Skype::context_settle see the other worker's attempts.
# @TEST-REQUIRES: test -x "$PYTHON"
# @TEST-PORT: BROKER_MANAGER_PORT
# @TEST-PORT: BROKER_PROXY1_PORT
# @TEST-PORT: BROKER_WORKER1_PORT
# @TEST-PORT: BROKER_WORKER2_PORT
# @TEST-EXEC: cp $TRACES/skype-split-chains.pcap trace.pcap
# @TEST-EXEC: FOLLOWUPS_MIN=0 LOCKSTEP_STEP=0.25 $SCRIPTS/run-cluster
# @TEST-EXEC: test "$($PYTHON $SCRIPTS/cross-worker-chains skype.log)" -eq 6
# @TEST-EXEC: test "$(grep -c tcp_fallback_chain standalone-skype.canon)" -eq 24
# @TEST-EXEC: mkdir behind && cp trace.pcap behind/ && cd behind && FOLLOWUPS_MIN=0 LOCKSTEP_STEP=0.25 LOCKSTEP_LEAD=7 $SCRIPTS/run-cluster
