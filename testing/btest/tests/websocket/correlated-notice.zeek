# @TEST-DOC: Zeek with the package and its WebSocket listener on loopback holds the capture until the Python correlator has connected; the correlator's notice, sent back as Skype::correlated_notice, lands in notice.log.
# @TEST-REQUIRES: test -x "$SKYPEWATCH"
# @TEST-PORT: WEBSOCKET_PORT
# @TEST-EXEC: btest-bg-run zeek "ZEEK_WEBSOCKET_LISTEN_PORT=${WEBSOCKET_PORT%/tcp} zeek -C -r $TRACES/skype-open-1.4-background.pcap $PACKAGE $PACKAGE/websocket.zeek %INPUT Skype::websocket_port=$WEBSOCKET_PORT"
# @TEST-EXEC: btest-bg-run client "$SKYPEWATCH correlate --zeek ws://127.0.0.1:${WEBSOCKET_PORT%/tcp} --settle 1 -o ."
# @TEST-EXEC: btest-bg-wait -k 60
# @TEST-EXEC: grep -q 'Skype::Login_Sequence.*\[skypewatch\] .* runs legacy Skype' zeek/notice.log
# @TEST-EXEC: grep -q 'connected to Zeek' client/.stderr

redef exit_only_after_terminate = T;

# Let connections end while the trace plays, so their detections reach the correlator.
redef udp_inactivity_timeout = 5 sec;
redef tcp_close_delay = 1 sec;
redef tcp_inactivity_timeout = 10 sec;

event zeek_init()
	{
	suspend_processing();
	}

event Cluster::websocket_client_added(info: Cluster::EndpointInfo, subscriptions: string_vec)
	{
	continue_processing();
	}

event Skype::correlated_notice(ts: time, note: string, client: addr, msg: string,
    sub: string, n: count, uid: string) &priority=-10
	{
	# notices.zeek raised the NOTICE at the default priority: done.
	terminate();
	}
