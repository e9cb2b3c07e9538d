# @TEST-DOC: Live path.  Zeek holds the capture until the correlator has subscribed, then replays it; a packet 15 minutes after the rest lets every connection end while Zeek reads, so the correlator hears all detections.  Stopped, the correlator sends its pending notices back (and writes its own notice.log); then Zeek is stopped.  Zeek's notice.log holds one notice per client: the correlator's, since it saw every session whole.
# @TEST-REQUIRES: test -x "$SKYPEWATCH"
# @TEST-PORT: WEBSOCKET_PORT
# @TEST-EXEC: $SCRIPTS/append-idle-tail $TRACES/skype-open-1.4-background.pcap trace.pcap
# @TEST-EXEC: btest-bg-run zeek "ZEEK_WEBSOCKET_LISTEN_PORT=${WEBSOCKET_PORT%/tcp} zeek -C -r ../trace.pcap $PACKAGE $PACKAGE/websocket.zeek %INPUT Skype::websocket_port=$WEBSOCKET_PORT"
# @TEST-EXEC: btest-bg-run client "$SKYPEWATCH correlate --zeek ws://127.0.0.1:${WEBSOCKET_PORT%/tcp} -o ."
# @TEST-EXEC: $SCRIPTS/wait-for-file zeek/trace-done 60
# @TEST-EXEC: sleep 2 && pkill -TERM -f "python.* correlate --zeek ws://127.0.0.1:${WEBSOCKET_PORT%/tcp}"
# @TEST-EXEC: $SCRIPTS/wait-for-file client/notice.log 30 && sleep 2 && kill -TERM $(cat zeek/zeek.pid)
# @TEST-EXEC: btest-bg-wait 60
# @TEST-EXEC: grep -q 'Skype::Login_Sequence.*\[skypewatch\] 10.197.43.183 runs legacy Skype' zeek/notice.log
# @TEST-EXEC: grep -q 'connected to Zeek' client/.stderr
# @TEST-EXEC: zeek-cut src < zeek/notice.log | sort | uniq -d > same-client
# @TEST-EXEC: test ! -s same-client
# @TEST-EXEC: test "$(zeek-cut msg < zeek/notice.log | grep -c '^\[skypewatch\]')" = "$(zeek-cut msg < zeek/notice.log | wc -l)"

redef exit_only_after_terminate = T;

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
	system("touch trace-done");
	}
