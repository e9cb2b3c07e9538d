##! What the package remembers across connections, with expiry and a size bound: the
##! probes clients sent (for the TCP follow-up signatures), UDP endpoints proven to speak
##! Skype (every flow on them is Skype) with their fan-out bookkeeping, and hosts with
##! confirmed evidence (which raise the confidence of their other connections).
##!
##! In a cluster each update is also shared with the other workers (see cluster.zeek).

@load ./main

module Skype;

export {
	## Host-level entries not stored because a table held :zeek:see:`Skype::max_entries`.
	global dropped_entries: count = 0;

	## Raised for every host-context update this node makes, so that cluster.zeek can
	## share it.  *kind*: 1 probe, 2 new UDP flow, 3 proven endpoint, 4 confirmed host.
	global context_update: event(kind: count, ts: time, a: addr, b: addr, p: port,
	    flag: bool);
}

## Fan-out bookkeeping of one UDP (address, port).
type Endpoint: record {
	last_seen: time;
	proven: bool &default=F;
	fanout: bool &default=F;
	flows: count &default=0;
	u1_flows: count &default=0;
	## Destinations of U1-shaped first datagrams, with when they were last probed.
	recent: table[addr] of time &default=table();
};

# Ports are kept as numbers: Skype listens on one port number for UDP and TCP, so a
# UDP probe to peer:N explains TCP to peer:N, and a port value carries its protocol.

## (client, peer, peer port number) -> when the client last probed it.
global probes: table[addr, addr, count] of time &write_expire=probe_tcp_window;

## (client, peer) -> when the client last probed any port of it.
global probed_hosts: table[addr, addr] of time &write_expire=probe_tcp_window;

## (address, port number) of UDP endpoints that sent a U1-shaped datagram or were
## proven to speak Skype.
global endpoints: table[addr, count] of Endpoint &read_expire=endpoint_idle;

## Hosts with confirmed evidence -> when it was seen.
global confirmed: table[addr] of time &write_expire=endpoint_idle;

function room_for(n: count): bool
	{
	if ( n < max_entries )
		return T;

	++dropped_entries;
	return F;
	}

## Applies a probe to the tables (shared by local detection and cluster updates).
function apply_probe(ts: time, client: addr, peer: addr, peer_p: port)
	{
	local n = port_to_count(peer_p);
	if ( [client, peer, n] in probes || room_for(|probes|) )
		probes[client, peer, n] = ts;
	if ( [client, peer] in probed_hosts || room_for(|probed_hosts|) )
		probed_hosts[client, peer] = ts;
	}

function get_endpoint(ts: time, a: addr, n: count): Endpoint
	{
	if ( [a, n] !in endpoints )
		endpoints[a, n] = Endpoint($last_seen=ts);
	local ep = endpoints[a, n];
	if ( ts > ep$last_seen )
		ep$last_seen = ts;
	return ep;
	}

function apply_new_flow(ts: time, a: addr, p: port, peer: addr, shaped: bool)
	{
	local n = port_to_count(p);
	if ( ! shaped && [a, n] !in endpoints )
		return;
	if ( [a, n] !in endpoints && ! room_for(|endpoints|) )
		return;

	local ep = get_endpoint(ts, a, n);
	++ep$flows;
	if ( ! shaped )
		return;

	++ep$u1_flows;
	if ( ep$fanout )
		return; # the flag never clears: no more bookkeeping needed

	ep$recent[peer] = ts;
	local horizon = ts - fanout_window;
	local stale: set[addr] = set();
	for ( dst, seen in ep$recent )
		{
		if ( seen < horizon )
			add stale[dst];
		}
	for ( dst in stale )
		delete ep$recent[dst];

	# A bounded sample: the oldest destinations go first.
	while ( |ep$recent| > 4 * fanout_min_peers )
		{
		local oldest: addr = peer;
		local oldest_ts = ts;
		for ( dst, seen in ep$recent )
			{
			if ( seen < oldest_ts )
				{
				oldest = dst;
				oldest_ts = seen;
				}
			}
		delete ep$recent[oldest];
		}

	if ( |ep$recent| >= fanout_min_peers
	    && ep$u1_flows >= fanout_min_share * ep$flows )
		ep$fanout = T;
	}

function apply_prove(ts: time, a: addr, p: port)
	{
	local n = port_to_count(p);
	if ( [a, n] !in endpoints && ! room_for(|endpoints|) )
		return;
	local ep = get_endpoint(ts, a, n);
	ep$proven = T;
	}

function apply_confirm(ts: time, a: addr)
	{
	if ( a in confirmed || room_for(|confirmed|) )
		confirmed[a] = ts;
	}

## A client sent a U1-shaped datagram to *peer*:*peer_p*.
function note_probe(ts: time, client: addr, peer: addr, peer_p: port)
	{
	apply_probe(ts, client, peer, peer_p);
	event Skype::context_update(1, ts, client, peer, peer_p, T);
	}

## The first datagram of a UDP flow that *a*:*p* started.
function note_new_flow(ts: time, a: addr, p: port, peer: addr, shaped: bool)
	{
	if ( ! shaped && [a, port_to_count(p)] !in endpoints )
		return;
	apply_new_flow(ts, a, p, peer, shaped);
	event Skype::context_update(2, ts, a, peer, p, shaped);
	}

## A strong signature proved that *a*:*p* speaks Skype.
function prove_endpoint(ts: time, a: addr, p: port)
	{
	apply_prove(ts, a, p);
	event Skype::context_update(3, ts, a, a, p, T);
	}

## A confirmed signature fired on a connection of *a*.
function confirm_host(ts: time, a: addr)
	{
	apply_confirm(ts, a);
	event Skype::context_update(4, ts, a, a, 0/unknown, T);
	}

function probed(ts: time, client: addr, peer: addr, peer_p: port): bool
	{
	local n = port_to_count(peer_p);
	if ( [client, peer, n] !in probes )
		return F;
	local d = ts - probes[client, peer, n];
	return d >= 0sec && d <= probe_tcp_window;
	}

function probed_host(ts: time, client: addr, peer: addr): bool
	{
	if ( [client, peer] !in probed_hosts )
		return F;
	local d = ts - probed_hosts[client, peer];
	return d >= 0sec && d <= probe_tcp_window;
	}

function endpoint_proven(a: addr, p: port): bool
	{
	local n = port_to_count(p);
	return [a, n] in endpoints && endpoints[a, n]$proven;
	}

function endpoint_fanout(a: addr, p: port): bool
	{
	local n = port_to_count(p);
	return [a, n] in endpoints && endpoints[a, n]$fanout;
	}

function is_confirmed(a: addr): bool
	{
	return a in confirmed;
	}
