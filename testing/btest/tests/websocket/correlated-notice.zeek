# @TEST-DOC: Live path.  Zeek holds the capture until the correlator has subscribed, then replays it; a packet 15 minutes after the rest lets every connection end while Zeek reads, so the correlator hears all detections.  At the end of the capture Zeek publishes a marker event on the detection topic: once the correlator reports it (an unknown name), every detection before it is in.  Stopped, the correlator sends its pending notices back (and writes its own notice.log); once Zeek has received as many as the correlator says it sent, Zeek is stopped.  Zeek's notice.log holds one notice per client: the correlator's, since it saw every session whole.  No fixed sleeps: every wait is on a condition (SKYPEWATCH_TEST_TIMEOUT).
# @TEST-REQUIRES: test -x "$SKYPEWATCH"
# @TEST-PORT: WEBSOCKET_PORT
# @TEST-EXEC: $SCRIPTS/append-idle-tail $TRACES/skype-open-1.4-background.pcap trace.pcap
# @TEST-EXEC: btest-bg-run zeek "ZEEK_WEBSOCKET_LISTEN_PORT=${WEBSOCKET_PORT%/tcp} zeek -C -r ../trace.pcap $PACKAGE $PACKAGE/websocket.zeek %INPUT Skype::websocket_port=$WEBSOCKET_PORT"
# @TEST-EXEC: btest-bg-run client "$SKYPEWATCH correlate --zeek ws://127.0.0.1:${WEBSOCKET_PORT%/tcp} -o ."
# @TEST-EXEC: $SCRIPTS/wait-until 'grep -q "Test::trace_done" client/.stderr' "the correlator took every detection"
# @TEST-EXEC: pkill -TERM -f "python.* correlate --zeek ws://127.0.0.1:${WEBSOCKET_PORT%/tcp}"
# @TEST-EXEC: $SCRIPTS/wait-until 'grep -q " sent to Zeek" client/.stdout && test -s zeek/received && test "$(wc -l < zeek/received)" -eq "$(sed -n "s/.* \([0-9][0-9]*\) sent to Zeek.*/\1/p" client/.stdout)"' "Zeek received every notice the correlator sent"
# @TEST-EXEC: kill -TERM $(cat zeek/zeek.pid)
# @TEST-EXEC: btest-bg-wait 60
# @TEST-EXEC: grep -q 'Skype::Login_Sequence.*\[skypewatch\] 10.197.43.183 runs legacy Skype' zeek/notice.log
# @TEST-EXEC: grep -q 'connected to Zeek' client/.stderr
# @TEST-EXEC: zeek-cut src < zeek/notice.log | sort | uniq -d > same-client
# @TEST-EXEC: test ! -s same-client
# @TEST-EXEC: test "$(zeek-cut msg < zeek/notice.log | grep -c '^\[skypewatch\]')" = "$(zeek-cut msg < zeek/notice.log | wc -l)"

redef exit_only_after_terminate = T;

module Test;

export {
	## Published after the capture's last packet: the correlator reports it as an event
	## that is not its own, after every detection published before it.
	global trace_done: event();
}

event zeek_init()
	{
	system(fmt("echo %d > zeek.pid", getpid()));
	suspend_processing();
	}

event Cluster::websocket_client_added(info: Cluster::EndpointInfo, subscriptions: string_vec)
	{
	continue_processing();
	}

event Pcap::file_done(path: string)
	{
	Cluster::publish(Skype::topic_prefix + "detection", Test::trace_done);
	}

event Skype::correlated_notice(ts: time, note: string, client: addr, msg: string,
    sub: string, n: count, uid: string)
	{
	local f = open_for_append("received");
	print f, client;
	close(f);
	}
