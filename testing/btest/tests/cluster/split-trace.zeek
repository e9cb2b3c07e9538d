# @TEST-DOC: A manager, a proxy and two workers, each worker fed its half of a synthesized start-up capture split per connection (symmetric hash, as a load balancer does), write exactly the standalone skype.log and notices.  In this capture UDP probes and the TCP sessions that follow them reach different workers, so only the host context the workers share through the manager makes those sn_handshake lines.
# @TEST-REQUIRES: test -x "$PYTHON"
# @TEST-PORT: BROKER_MANAGER_PORT
# @TEST-PORT: BROKER_PROXY1_PORT
# @TEST-PORT: BROKER_WORKER1_PORT
# @TEST-PORT: BROKER_WORKER2_PORT
# @TEST-EXEC: cp $TRACES/skype-autologin.pcap trace.pcap
# 4x, not the default 10x: with every core busy (make test beside a fuzz run) one worker fell
# 270 ms behind the other once, and a TCP follow-up 2.7 s after its probe beat the context.
# @TEST-EXEC: SPEEDUP=4 $SCRIPTS/run-cluster
