##! Hold a capture until a WebSocket client (the correlator) has subscribed, so that no
##! event is published before anyone listens; stop once the capture is done.

event zeek_init()
	{
	suspend_processing();
	}

event Cluster::websocket_client_added(info: Cluster::EndpointInfo,
    subscriptions: string_vec)
	{
	continue_processing();
	}
