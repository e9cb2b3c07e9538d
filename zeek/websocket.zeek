##! Opt-in: listen for WebSocket clients (such as ``skypewatch correlate --zeek``) on a
##! standalone node.  ``@load skypewatch/websocket``.  Inside a zeekctl cluster the manager
##! already serves the WebSocket API (8.1+, or ``UseWebSocket = 1`` on 8.0): do not load
##! this there.  The API has no authentication: keep it on loopback or a private network.

@load base/misc/version
@load ./main

module Skype;

# A client is what the events are for.
redef publish_events = T;

export {
	## Address the WebSocket server listens on (8.0 only; 8.1+ reads the
	## ``ZEEK_WEBSOCKET_LISTEN_ADDRESS`` environment variable, default 127.0.0.1).
	const websocket_addr = 127.0.0.1 &redef;

	## Port of the WebSocket server (8.0 only; 8.1+ reads ``ZEEK_WEBSOCKET_LISTEN_PORT``,
	## default 27759).
	const websocket_port = 27759/tcp &redef;
}

@if ( Version::at_least("8.1") )
# 8.1+'s server script picks ZeroMQ when no cluster backend was chosen; a Zeek built
# without ZeroMQ has none, so take Broker there.
@if ( Cluster::backend == Cluster::CLUSTER_BACKEND_NONE )
@ifndef ( Cluster::CLUSTER_BACKEND_ZEROMQ )
@load frameworks/cluster/backend/broker
@endif
@endif
@load frameworks/cluster/websocket/server
@else
event zeek_init() &priority=-100
	{
	if ( Cluster::is_enabled() && Cluster::local_node_type() != Cluster::MANAGER )
		return;

	Cluster::listen_websocket(Cluster::WebSocketServerOptions(
	    $listen_addr=websocket_addr, $listen_port=websocket_port));
	}
@endif
