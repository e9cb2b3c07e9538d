##! From a connection's signature hits to its skype.log line, when the connection ends.
##!
##! Rules, in the order they apply:
##! * weak hits (a lone U1, a type-2 exchange) never make a line on their own;
##! * the connection's confidence is the strongest base strength among its other hits;
##! * a host that already has confirmed evidence raises its connections one level;
##! * the stage is the latest start-up stage any hit belongs to.

@load ./main
@load ./context
@load ./udp_probe
@load ./sn_handshake
@load ./login
@load ./version_check
@load ./media
@load ./events

module Skype;

## What the peer is to the client, by the stage of the connection.
const role_by_stage: table[Stage] of string = {
	[PROBE] = "super_node",
	[SN_HANDSHAKE] = "super_node",
	[LOGIN] = "login_server",
	[VERSION_CHECK] = "update_server",
	[MEDIA] = "peer",
};

## Hits that say the responder is the Skype node we know about: it is the client.
const inbound_hits: set[string] = {
	"to_skype_endpoint",
	"tcp_to_skype_port",
	"skype_404"
};

## skype.log's confidence for a strength (a line needs more than weak).
const confidence_names: vector of string = vector("weak", "possible", "likely",
    "confirmed");

## Each hit name's place in byte order among the names seen so far, for the evidence
## order (judge).  A name not seen before re-ranks them all (learn_names): a few dozen
## times per run.
global hit_names: vector of string = vector();
global hit_rank: table[string] of count = table();

## Keys of the evidence sort: (strength, name rank, index) in one count.
const rank_span = 4096;

function learn_names(hits: vector of Hit)
	{
	local added = F;
	for ( _, h in hits )
		{
		if ( h$name !in hit_rank )
			{
			hit_names += h$name;
			hit_rank[h$name] = 0;
			added = T;
			}
		}
	if ( ! added )
		return;
	sort(hit_names, strcmp);
	for ( i, n in hit_names )
		hit_rank[n] = i;
	}

## Every signature hit of a finished connection, including host-context ones.
function connection_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	if ( get_port_transport_proto(c$id$orig_p) == udp )
		{
		if ( s$n_sample == 0 )
			return hits;
		if ( |s$dgrams| > 0 )
			{
			for ( _, h in probe_hits(c) )
				hits += h;
			}
		for ( _, h in media_hits(c) )
			hits += h;
		local framed = s$first_framed;
		local weak = weak_hits(c);
		# The originator's endpoint entry, looked at once (a look keeps it: endpoint_idle)
		# and only when a hit can use it.
		local on = port_to_count(c$id$orig_p);
		local ep_proven = F;
		local ep_sequence = F;
		local ep_fanout = F;
		if ( ( framed || |weak| > 0 ) && [c$id$orig_h, on] in endpoints )
			{
			local ep = endpoints[c$id$orig_h, on];
			ep_proven = ep$proven;
			ep_sequence = ep$id_sequence;
			ep_fanout = ep$fanout;
			}
		if ( framed && ep_proven )
			hits += Hit($name="skype_endpoint", $stage=PROBE, $strength=LIKELY,
			    $evidence=fmt(
			    "flow from proven Skype endpoint %s:%d",
			    c$id$orig_h, on));
		else if ( framed && endpoint_proven(c$id$resp_h, c$id$resp_p) )
			hits += Hit($name="to_skype_endpoint", $stage=PROBE, $strength=LIKELY,
			    $evidence=fmt("flow to proven Skype endpoint %s:%d",
			    c$id$resp_h, port_to_count(c$id$resp_p)));
		if ( |weak| == 0 )
			return hits;
		if ( ep_sequence )
			hits += Hit($name="probe_id_sequence", $stage=PROBE, $strength=LIKELY,
			    $evidence=fmt("port %d probed %d+ new peers with U1 ids climbing in small steps (one message counter)",
			    on, id_seq_min));
		if ( ep_fanout )
			hits += Hit($name="probe_fanout", $stage=PROBE, $strength=POSSIBLE,
			    $evidence=fmt("one of the U1-shaped flows port %d sent to %d+ hosts within %.0fs",
			    on, fanout_min_peers, interval_to_double(
			    fanout_window)));
		for ( _, h in weak )
			hits += h;
		return hits;
		}

	for ( _, h in login_hits(c) )
		hits += h;
	for ( _, h in handshake_hits(c) )
		hits += h;
	for ( _, h in version_hits(c) )
		hits += h;
	for ( _, h in correlated_hits(c) )
		hits += h;
	for ( _, h in fallback_chain_hits(c) )
		hits += h;
	return hits;
	}

## The connection's skype.log record, or none when only weak hits fired.  One pass
## over the hits finds the strongest strength, the client and the latest stage of its
## start-up, the public address and version; the evidence lists the hits strongest
## first, by name within a strength.
##
## The client is the responder when every solid hit only says the responder is a known
## Skype node (an inbound connection to a Skype client), else the originator; the one
## rule for the host context and the log line (as the Python engine's
## ``client_is_responder``).  The stage is the latest among the hits that speak of the
## client: with the originator as client, the inbound hits describe the responder.
function judge(c: connection, hits: vector of Hit): Info
	{
	local best = 0;
	local stage_all = PROBE;
	local stage_own = PROBE;
	local names: set[string] = set();
	local all_inbound = T;
	local info = Info($ts=c$start_time, $uid=c$uid, $id=c$id,
	    $proto=get_port_transport_proto(c$id$orig_p), $duration=c$duration,
	    $stage="", $signatures=names, $client=c$id$orig_h,
	    $peer=c$id$resp_h, $peer_role="", $confidence="", $evidence="",
	    $answered=c$resp$size > 0);
	for ( _, h in hits )
		{
		add names[h$name];
		if ( h?$client_public_ip && ! info?$client_public_ip )
			info$client_public_ip = h$client_public_ip;
		if ( h?$skype_version && ! info?$skype_version )
			info$skype_version = h$skype_version;
		if ( h$strength == WEAK )
			next;
		local strength = int_to_count(enum_to_int(h$strength));
		if ( strength > best )
			best = strength;
		if ( enum_to_int(h$stage) > enum_to_int(stage_all) )
			stage_all = h$stage;
		if ( h$name !in inbound_hits )
			{
			all_inbound = F;
			if ( enum_to_int(h$stage) > enum_to_int(stage_own) )
				stage_own = h$stage;
			}
		}
	if ( best == 0 )
		return info;

	if ( all_inbound )
		{
		info$client = c$id$resp_h;
		info$peer = c$id$orig_h;
		info$stage = stage_names[stage_all];
		info$peer_role = "peer";
		}
	else
		{
		info$stage = stage_names[stage_own];
		info$peer_role = role_by_stage[stage_own];
		}
	# Hosts are confirmed only as signatures fire on packets, never here: the order in
	# which connections end (Zeek drains them in no set order) cannot matter.
	if ( best < 3 && info$client in confirmed )
		{
		local as_of = c$skype_state?$judged_at ? c$skype_state$judged_at :
		    network_time();
		if ( confirmed[info$client] <= as_of )
			++best;
		}
	info$confidence = confidence_names[best];

	# Strongest first, by name within a strength (a connection's hits have distinct
	# names): one count per hit -- strength, the name's rank, the hit's index -- sorted
	# in C++, instead of string keys and a comparator call per pair.
	local evidence: string;
	if ( |hits| == 1 )
		evidence = hits[0]$evidence;
	else
		{
		learn_names(hits);
		local keys: vector of count = vector();
		for ( i, h in hits )
			keys += ( ( 3 - int_to_count(enum_to_int(h$strength)) ) * rank_span +
			    hit_rank[h$name] ) * rank_span + i;
		sort(keys);
		local texts: vector of string = vector();
		for ( _, k in keys )
			texts += hits[k % rank_span]$evidence;
		evidence = join_string_vec(texts, "; ");
		}
	if ( |evidence| > max_evidence )
		evidence = evidence[0 : max_evidence - 3] + "...";
	info$evidence = evidence;
	return info;
	}

## Judges the connection and writes its skype.log line, if any.
function write_verdict(c: connection)
	{
	hook refresh_context(c);
	local hits = connection_hits(c);
	if ( |hits| == 0 )
		return; # (most inspected connections that are not Skype's)
	local info = judge(c, hits);
	if ( info$confidence == "" )
		return;
	c$skype = info;
	Log::write(Skype::LOG, info);
	publish_detection(info);
	}

## Verdicts held for :zeek:see:`Skype::context_settle` (cluster workers), by uid.
global held: table[string] of connection;

## Writes the held verdict of connection *uid*.
global release_verdict: event(uid: string);

## A held verdict's time has come (or the node is shutting down).
event Skype::release_verdict(uid: string)
	{
	if ( uid !in held )
		return;
	local c = held[uid];
	delete held[uid];
	write_verdict(c);
	}

## Writes every held verdict now: a node going down has no time left to wait.
function release_held()
	{
	for ( uid in copy(held) )
		event Skype::release_verdict(uid);
	}

## Connections still open at the end of input (standalone), judged at zeek_done oldest
## first, as the Python engine does: Zeek drains them in an order that can vary from run to
## run, and what a host's capped sets keep depends on the order its records come in.
global ending: vector of connection;

hook finalize_skype(c: connection)
	{
	if ( ! c?$skype_state )
		return;

	c$skype_state$judged_at = network_time();
	if ( zeek_is_terminating() && ! Cluster::is_enabled() )
		{
		ending += c;
		return;
		}
	local now = zeek_is_terminating() || hook hold_verdict(c);
	if ( ! now )
		{
		# Written later as of now (judged_at): c$skype is not set before then.
		held[c$uid] = c;
		schedule context_settle { Skype::release_verdict(c$uid) };
		return;
		}
	write_verdict(c);
	}

event net_done(t: time)
	{
	release_held();
	}

# Before notices.zeek raises what is still due (priority 0).
event zeek_done() &priority=10
	{
	local starts: vector of double = vector();
	for ( _, c in ending )
		starts += time_to_double(c$start_time);
	for ( _, i in order(starts) )
		write_verdict(ending[i]);
	ending = vector();
	}
