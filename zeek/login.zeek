##! Stage 3: authentication with a login server (L1-L4, docs/signatures.md#stage-3-login).
##!
##! L1 is a 5-byte TLS record header announcing a zero-length handshake, L2 a zero-length
##! application-data header: both are illegal in real TLS, which makes them the strongest
##! TCP signature.  L3/L4 are the Skype records that follow.

@load ./main
@load ./context
@load ./sn_handshake

module Skype;

export {
	## skype-login-l1: the client's stream begins with ``16 03 01 00 00``.
	global login_l1: event(state: signature_state, data: string) &is_used;

	## skype-login-l2: the server's stream begins with ``17 03 01 00 00``.
	global login_l2: event(state: signature_state, data: string) &is_used;

	## skype-login-l3: L1 is followed by a record carrying a Skype object list.
	global login_l3: event(state: signature_state, data: string) &is_used;

	## skype-login-l4: L2 is followed by a ``17 03 01`` record.
	global login_l4: event(state: signature_state, data: string) &is_used;
}

redef record State += {
	## Which login patterns of skype.sig matched; L1 alone or coalesced with the next
	## Skype record (never a real TLS handshake).
	client_sent_l1: bool &default=F;
	l1_framed: bool &default=F;
	server_sent_l2: bool &default=F;
	client_sent_l3: bool &default=F;
	server_sent_l4: bool &default=F;
};

function login_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	# Exactly 5 bytes, or coalesced with the next Skype record (never a real handshake).
	if ( ! s$client_sent_l1 || ! s$l1_framed )
		return hits;
	if ( s$server_sent_l2 )
		hits += Hit($name="login_handshake", $stage=LOGIN, $strength=CONFIRMED, $evidence="client sent 16 03 01 00 00 and the server answered 17 03 01 00 00 (L1/L2)");
	else
		hits += Hit($name="login_hello", $stage=LOGIN, $strength=LIKELY,
		    $evidence="client opened with 16 03 01 00 00 (L1)");
	if ( s$client_sent_l3 || ( s$server_sent_l2 && s$server_sent_l4 ) )
		hits += Hit($name="login_records", $stage=LOGIN, $strength=CONFIRMED, $evidence="followed by Skype records (L3 object list / L4 17 03 01 reply)");
	return hits;
	}

## A confirmed login signature confirms the client at once.
## The first time a connection's login or handshake patterns add up to confirmed
## evidence (and the server has sent something): the client is confirmed, and the server
## proven a login server (L1/L2) or a super node (the constant ServerHello).
function check_login(c: connection)
	{
	local s = c$skype_state;
	if ( s$strong_checked || c$resp$size == 0 )
		return;
	local hits = login_hits(c);
	for ( _, h in handshake_hits(c) )
		hits += h;
	local strong = F;
	for ( _, h in hits )
		{
		if ( h$strength == CONFIRMED )
			strong = T;
		}
	if ( ! strong )
		return;
	s$strong_checked = T;
	local now = network_time();
	confirm_host(now, c$id$orig_h);
	for ( _, h in hits )
		{
		if ( h$name == "fixed_server_hello" )
			prove_node(now, c$id$resp_h, c$id$resp_p, F);
		else if ( h$name == "login_handshake" )
			prove_node(now, c$id$resp_h, c$id$resp_p, T);
		}
	}

# After sn_handshake.zeek's handler noted the ServerHello.
event Skype::fixed_server_hello(state: signature_state, data: string)
    &priority=-5
	{
	check_login(state$conn);
	}

event Skype::login_l1(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$client_sent_l1 = T;
	local next_head = data[5:8];
	s$l1_framed = |data| == 5 || next_head == "\x16\x03\x01" || next_head ==
	    "\x17\x03\x01";
	check_login(state$conn);
	}

event Skype::login_l2(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$server_sent_l2 = T;
	check_login(state$conn);
	}

event Skype::login_l3(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$client_sent_l3 = T;
	check_login(state$conn);
	}

event Skype::login_l4(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$server_sent_l4 = T;
	check_login(state$conn);
	}
