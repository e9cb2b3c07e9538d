##! Hold a capture until a WebSocket client (the correlator) has subscribed, so that no
##! event is published before anyone listens.  Zeek keeps running after the capture, so
##! that the notices the correlator sends back when it stops still reach notice.log; the
##! end of the capture is reported (stderr and reporter.log) for whoever waits on it.

event zeek_init()
	{
	suspend_processing();
	}

event Cluster::websocket_client_added(info: Cluster::EndpointInfo,
    subscriptions: string_vec)
	{
	continue_processing();
	}

event Pcap::file_done(path: string)
	{
	Reporter::info(fmt("capture done: %s", path));
	}
