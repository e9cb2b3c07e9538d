##! Stage 2: the TCP handshake with a super node.
##!
##! On the super node's own port the stream is RC4 from byte 0, so the checks there are
##! correlations with the UDP probe that came first (docs/signatures.md#tcp_to_probed_peer) or with a proven Skype
##! port (inbound TCP to a client).  On 443 Skype imitates TLS with a 72-byte SSLv2-format
##! hello and, on the server side, a ServerHello that never changes (docs/signatures.md#fixed_server_hello).  The byte
##! patterns are in skype.sig; this script keeps what matched and judges it.

@load ./main
@load ./context

module Skype;

export {
	## Published on ``topic_prefix + "tcp"`` when a client opens TCP to a peer it probed
	## over UDP in the last :zeek:see:`Skype::probe_tcp_window`, or to a proven Skype port.
	global tcp_session_seen: event(ts: time, uid: string, client: addr,
	    client_port: port, peer: addr, peer_port: port, probed: bool);

	## Eval of skype-tcp-orig-data: records the host context at the first client payload.
	global tcp_orig_data: function(state: signature_state, data: string): bool
	    &is_used;

	## skype-sslv2-hello: the client opened with Skype's 72-byte SSLv2-format hello.
	global sslv2_hello: event(state: signature_state, data: string) &is_used;

	## skype-sslv2-junk: raw bytes, not a TLS record, follow that hello.
	global sslv2_junk: event(state: signature_state, data: string) &is_used;

	## skype-resp-tls: the server's stream begins like a TLS record, in a connection
	## whose client sent Skype's SSLv2-format hello (raised after sslv2_hello).
	global resp_tls: event(state: signature_state, data: string) &is_used;

	## skype-fixed-server-hello: the server sent Skype's constant 79-byte ServerHello.
	global fixed_server_hello: event(state: signature_state, data: string)
	    &is_used;

	## skype-bare-404: the server answered a ``GET`` with a stream that begins with a
	## bare ``HTTP/1.0 404 Not Found``.
	global bare_404: event(state: signature_state, data: string) &is_used;

	## Eval of skype-tcp-syn: the originator's bare SYN, a TCP connection attempt.
	global tcp_attempt: function(state: signature_state, data: string): bool
	    &is_used;

	## skype-tcp-cleartext: the client's stream begins like a known cleartext protocol.
	global tcp_cleartext: event(state: signature_state, data: string) &is_used;
}

redef record State += {
	## Host context when the client's first payload arrived: it had just probed this
	## ip:port, or this host, over UDP; the port is a proven Skype UDP endpoint.
	probed_endpoint: bool &default=F;
	## When the client's first payload arrived (the host context above is as of then).
	data_ts: time &optional;
	probed_host: bool &default=F;
	to_skype_port: bool &default=F;
	## The client sent payload, and it begins like a known cleartext protocol.
	orig_data: bool &default=F;
	cleartext: bool &default=F;
	## Which handshake patterns of skype.sig matched.
	hello: bool &default=F;
	hello_junk: bool &default=F;
	resp_tls: bool &default=F;
	fixed_hello: bool &default=F;
	bare_404: bool &default=F;
	## The originator's SYN belongs to a TCP fallback chain (context.zeek).
	attempt: bool &default=F;
	## The responder's ip:port (or only its address) is a proven node: "super_node",
	## "login_server", or "".
	known_node: string &default="";
	known_host: string &default="";
};

## Length of the bare 404 a Skype node answers ``GET`` with.
const skype_404_len = 26;

function tcp_orig_data(state: signature_state, data: string): bool
	{
	local c = state$conn;
	local now = network_time();
	local probed_endpoint = probed(now, c$id$orig_h, c$id$resp_h, c$id$resp_p);
	local probed_peer_host = probed_host(now, c$id$orig_h, c$id$resp_h);
	local skype_port = endpoint_proven(c$id$resp_h, c$id$resp_p);
	local node = "";
	local host = "";
	if ( skype_client(now, c$id$orig_h, c$id$resp_h) )
		{
		local n = port_to_count(c$id$resp_p);
		if ( [c$id$resp_h, n] in known_nodes )
			node = known_nodes[c$id$resp_h, n] ? "login_server" : "super_node";
		else if ( c$id$resp_h in known_node_hosts )
			host = known_node_hosts[c$id$resp_h] ? "login_server" : "super_node";
		}
	if ( probed_endpoint
	    || probed_peer_host
	    || skype_port
	    || node != ""
	    || host != "" )
		{
		local s = state_for(c);
		s$orig_data = T;
		s$data_ts = now;
		s$probed_endpoint = probed_endpoint;
		s$probed_host = probed_peer_host;
		s$to_skype_port = skype_port;
		s$known_node = node;
		s$known_host = host;
		if ( publish_events )
			event Skype::tcp_session_seen(now, c$uid, c$id$orig_h, c$id$orig_p,
			    c$id$resp_h, c$id$resp_p, probed_endpoint
			    || probed_peer_host);
		}
	# Once is enough: T ends the calls for this connection.
	return T;
	}

## Signatures visible inside one TCP connection.
function handshake_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	if ( s$hello )
		{
		hits += Hit($name="sslv2_hello", $stage=SN_HANDSHAKE, $strength=POSSIBLE, $evidence="72-byte SSLv2-format ClientHello with Skype's fixed cipher list");
		if ( s$hello_junk && ( s$fixed_hello || ! s$resp_tls ) )
			hits += Hit($name="fake_tls_junk", $stage=SN_HANDSHAKE, $strength=LIKELY, $evidence="the hello is followed by raw bytes, not TLS records (TLS look-alike)");
		}
	if ( s$fixed_hello )
		hits += Hit($name="fixed_server_hello", $stage=SN_HANDSHAKE,
		    $strength=CONFIRMED, $evidence="server answered with Skype's constant 79-byte ServerHello (gmt 0x401be486)");
	if ( s$bare_404 && c$resp$size == skype_404_len )
		hits += Hit($name="skype_404", $stage=SN_HANDSHAKE, $strength=POSSIBLE, $evidence="responder answered GET with a bare 'HTTP/1.0 404 Not Found', as Skype nodes do");
	return hits;
	}

## Signatures that need what other connections showed just before: the same client's
## UDP probe (docs/signatures.md#tcp_to_probed_peer), or a peer proven a super node or login server.
function correlated_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	if ( ! s$orig_data || s$cleartext )
		return hits;
	if ( s$probed_endpoint )
		hits += Hit($name="tcp_to_probed_peer", $stage=SN_HANDSHAKE, $strength=LIKELY, $evidence="opaque TCP to the ip:port the client had just probed over UDP");
	else if ( c$id$resp_p == 80/tcp && s$probed_host )
		hits += Hit($name="non_http_80_after_probe", $stage=SN_HANDSHAKE,
		    $strength=LIKELY, $evidence="non-HTTP bytes on port 80 to a host the client had just probed over UDP");
	if ( s$to_skype_port && ! s$probed_endpoint )
		hits += Hit($name="tcp_to_skype_port", $stage=SN_HANDSHAKE, $strength=LIKELY, $evidence="opaque TCP to the port of a proven Skype UDP endpoint");
	if ( |hits| > 0 )
		return hits;

	local role = s$known_node != "" ? s$known_node : s$known_host;
	if ( role == "" )
		return hits;
	local stage = role == "login_server" ? LOGIN : SN_HANDSHAKE;
	local what = role == "login_server" ? "login server" : "super node";
	if ( s$known_node != "" )
		hits += Hit($name="tcp_to_known_node", $stage=stage, $strength=LIKELY,
		    $evidence="opaque TCP to the ip:port of a proven " + what);
	else
		hits += Hit($name="tcp_to_known_host", $stage=stage, $strength=POSSIBLE,
		    $evidence="opaque TCP to another port of a proven " + what);
	return hits;
	}

## A connection of a probing client's TCP fallback: the peer's Skype port, then 443/80.
function fallback_chain_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	if ( ! s$attempt
	    || ! chain_holds(c$start_time, c$id$orig_h, c$id$resp_h, c$id$resp_p, s?$judged_at ? s$judged_at : network_time()) )
		return hits;
	local n = port_to_count(c$id$resp_p);
	local which = n == 443 ? "443" : n == 80 ? "80" : fmt("its Skype port %d", n);
	hits += Hit($name="tcp_fallback_chain", $stage=SN_HANDSHAKE, $strength=LIKELY,
	    $evidence=fmt("TCP attempt on %s, part of a probing client's fallback from the super node's port to 443/80 (answered or not)",
	    which));
	return hits;
	}

event Skype::sslv2_hello(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$hello = T;
	}

event Skype::sslv2_junk(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$hello_junk = T;
	}

event Skype::resp_tls(state: signature_state, data: string)
	{
	# The rule requires the hello, whose event (it creates the state) is raised first.
	if ( state$conn?$skype_state )
		state$conn$skype_state$resp_tls = T;
	}

event Skype::fixed_server_hello(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$fixed_hello = T;
	}

function tcp_attempt(state: signature_state, data: string): bool
	{
	local c = state$conn;
	if ( note_attempt(network_time(), c$id$orig_h, c$id$resp_h, c$id$resp_p) )
		state_for(c)$attempt = T;
	return T;
	}

event Skype::bare_404(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$bare_404 = T;
	}

event Skype::tcp_cleartext(state: signature_state, data: string)
	{
	# Only matters where tcp_orig_data found host context, which created the state.
	if ( state$conn?$skype_state )
		state$conn$skype_state$cleartext = T;
	}
