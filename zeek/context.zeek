##! What the package remembers across connections, with expiry and a size bound: the
##! probes clients sent (for the TCP follow-up signatures), UDP endpoints proven to speak
##! Skype (every flow on them is Skype) with their fan-out and message-id bookkeeping,
##! hosts with confirmed evidence (which raise the confidence of their other
##! connections), Skype clients' TCP fallback attempts, and the super nodes and login
##! servers that strong signatures proved.
##!
##! In a cluster each update is also shared with the other workers (see cluster.zeek).
##!
##! The tables are bounded by value, as the Python engine's (skypewatch.bounded): each
##! table that holds entries of hosts with weak evidence only (a lone U1-shaped datagram)
##! keeps their keys in a companion set as well, and a full table evicts one of those --
##! after checking that its host has not shown likely-or-better evidence since -- before
##! it refuses anything.  A flood of cheap hosts so displaces other cheap hosts, never a
##! Skype client; evidence that finds no room is reported as a weird.

@load ./main

module Skype;

export {
	## Host-level entries not stored because a table held :zeek:see:`Skype::max_entries`
	## entries, none of them worth less.
	global dropped_entries: count = 0;

	## Entries of hosts with weak evidence only that made room in a full table.
	global evicted_entries: count = 0;

	## Entries of hosts with likely-or-better evidence that a full table could not keep
	## (each one a ``Skype_state_full`` weird naming the table and the host).
	global lost_entries: count = 0;

	## What a host-context update is about (see :zeek:see:`Skype::context_update`).
	type ContextKind: enum {
		## *a*:*q* opened a UDP flow to *b*:*p* with a U1-shaped datagram of id *n*:
		## a probe of *b*:*p* and a new flow of *a*:*q* in one update.
		CTX_PROBE_FLOW,
		## *a*:*p* opened a UDP flow to *b* with a datagram that is not U1-shaped
		## (*flag* F; passed on only for a Skype endpoint).
		CTX_NEW_FLOW,
		## *a*:*p* speaks Skype.
		CTX_PROVEN_ENDPOINT,
		## *a* has confirmed evidence.
		CTX_CONFIRMED_HOST,
		## *a*:*p* is a super node (*flag* F) or a login server (*flag* T).
		CTX_NODE,
		## *a* attempted TCP to *b*:*p*; *flag*: the attempt could start a fallback
		## chain (the probe evidence held where it was seen).
		CTX_ATTEMPT,
	};

	## Raised for every host-context update this node makes, so that cluster.zeek can
	## share it.
	## *q* is a second port, where the kind names one.
	global context_update: event(kind: ContextKind, ts: time, a: addr, b: addr,
	    p: port, flag: bool, n: count, q: port);

	## U1s to distinct peers whose ids climb in small steps that make an id sequence.
	option id_seq_min: count = 8;

	## Largest step between the ids of consecutive U1s to new peers (seen: 1-39).
	option id_seq_max_step: count = 256;

	## Time from a client's TCP attempt on a peer's Skype port to its 443/80 fallback.
	option chain_window: interval = 30sec;

	## How long a cluster worker holds a verdict that depends on other connections of
	## the same client -- today a TCP attempt that may belong to a fallback chain --
	## before it writes it.  Attempts made before the verdict on other workers reach this
	## one through the manager within that time (a round trip takes milliseconds), and
	## the held verdict is then re-read as of the time it was due, so it comes out as a
	## standalone Zeek's.  Unused outside a cluster.
	option context_settle: interval = 5sec;

	## Asked when a connection's verdict is due; a handler that breaks holds it (as
	## cluster.zeek does on workers for possible fallback-chain attempts).  A held
	## verdict is written :zeek:see:`Skype::context_settle` later -- or when the node
	## shuts down -- as of the time it was due.
	global hold_verdict: hook(c: connection);

	## Called before a connection is judged, so that a cluster worker can re-read host
	## context that reached it after the connection's packets did (cluster.zeek: the
	## probes made before the client's first payload).
	global refresh_context: hook(c: connection);
}

redef record State += {
	## When the connection's verdict was due (it ended); set when it is first judged.
	judged_at: time &optional;
};

## Fan-out and message-id bookkeeping of one UDP (address, port).
type Endpoint: record {
	last_seen: time;
	proven: bool &default=F;
	fanout: bool &default=F;
	flows: count &default=0;
	u1_flows: count &default=0;
	## Destinations of U1-shaped first datagrams, with when they were last probed.
	recent: table[addr] of time &default=table();
	## Its probes to new peers carry ids from one climbing counter.
	id_sequence: bool &default=F;
	## The ids of its recent U1s to new peers, and when each was sent.
	ids: table[addr] of count &default=table();
	id_times: table[addr] of time &default=table();
};

## One TCP attempt of a client to a peer.
type Attempt: record {
	ts: time;
	## The peer's port number.
	n: count;
	## It could start a chain: probe evidence held where the attempt was seen.
	start: bool;
};

## The fallback chain in force between a client and a peer after some attempts.
type ChainState: record {
	## Whether a chain started; the fields below are its.
	active: bool &default=F;
	first_ts: time &optional;
	first_port: count &default=0;
	fallback: bool &default=F;
};

## A client's TCP attempts to one peer: the first on its Skype port, then 443 or 80.
## In a cluster the attempts of the last moments are kept, in time order, beside the
## state they lead from: one that reaches this worker late from another worker is placed
## by its time, not its arrival, and the chain re-read from there (a standalone node keeps
## none, every attempt reaching it in time order).
type Chain: record {
	## The state after the attempts no longer kept.
	base: ChainState;
	## Later attempts, oldest first (at most :zeek:see:`Skype::chain_log_max`).
	recent: vector of Attempt &default=vector();
};

## A chain's kept attempts replayed (:zeek:see:`Skype::replay`).
type Replay: record {
	## The chain's state after them.
	st: ChainState;
	## Whether the attempt looked for belongs to the chain.
	member: bool;
};

## Attempts kept per (client, peer) in a cluster; a pair with more folds its oldest.
const chain_log_max = 32;

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

## Hosts whose Skype port is proven, fans out or numbers its probes: Skype clients.
global marked: table[addr] of time &write_expire=endpoint_idle;

## (client, peer) -> the client's TCP attempts to it.
global chains: table[addr, addr] of Chain &create_expire=endpoint_idle;

## (address, port number) proven a super node or a login server -> T if a login server.
global known_nodes: table[addr, count] of bool &write_expire=endpoint_idle;

## Addresses proven a super node or a login server -> T if a login server.
global known_node_hosts: table[addr] of bool &write_expire=endpoint_idle;

# The keys of entries stored for hosts with weak evidence only, the first to go when a
# table is full.  A key whose host has shown evidence since stays in its table; one whose
# entry expired is only dropped from here.
global noise_probes: set[addr, addr, count] &write_expire=probe_tcp_window;
global noise_probed_hosts: set[addr, addr] &write_expire=probe_tcp_window;
global noise_endpoints: set[addr, count] &write_expire=endpoint_idle;
global noise_chains: set[addr, addr] &write_expire=endpoint_idle;

## Whether *a* showed likely-or-better evidence: its entries are protected.
function shows_evidence(a: addr): bool
	{
	return a in marked || a in confirmed;
	}

## A full table could not store an entry: counted, and reported if it was evidence.
function refuse(table_name: string, evidence: bool, host: addr): bool
	{
	++dropped_entries;
	if ( evidence )
		{
		++lost_entries;
		Reporter::net_weird("Skype_state_full", fmt("%s: %s (max_entries)",
		    table_name, host));
		}
	return F;
	}

## Room for a new entry in a table that holds only evidence.
function room_for(n: count, table_name: string, host: addr): bool
	{
	return n < max_entries || refuse(table_name, T, host);
	}

# A full table takes its eviction candidates one at a time: the first key an iteration
# yields, removed after the loop (a set changed while it is iterated is an error).

## Room for a new probe entry worth *evidence*: a weak host's probe goes if need be.
function room_in_probes(evidence: bool, host: addr): bool
	{
	if ( |probes| < max_entries )
		return T;
	while ( |noise_probes| > 0 )
		{
		local c = 0.0.0.0;
		local p = 0.0.0.0;
		local n = 0;
		for ( [c0, p0, n0] in noise_probes )
			{
			c = c0;
			p = p0;
			n = n0;
			break;
			}
		delete noise_probes[c, p, n];
		if ( [c, p, n] in probes && ! shows_evidence(c) )
			{
			delete probes[c, p, n];
			++evicted_entries;
			return T;
			}
		}
	return refuse("probes", evidence, host);
	}

function room_in_probed_hosts(evidence: bool, host: addr): bool
	{
	if ( |probed_hosts| < max_entries )
		return T;
	while ( |noise_probed_hosts| > 0 )
		{
		local c = 0.0.0.0;
		local p = 0.0.0.0;
		for ( [c0, p0] in noise_probed_hosts )
			{
			c = c0;
			p = p0;
			break;
			}
		delete noise_probed_hosts[c, p];
		if ( [c, p] in probed_hosts && ! shows_evidence(c) )
			{
			delete probed_hosts[c, p];
			++evicted_entries;
			return T;
			}
		}
	return refuse("probed hosts", evidence, host);
	}

function room_in_endpoints(evidence: bool, host: addr): bool
	{
	if ( |endpoints| < max_entries )
		return T;
	while ( |noise_endpoints| > 0 )
		{
		local a = 0.0.0.0;
		local n = 0;
		for ( [a0, n0] in noise_endpoints )
			{
			a = a0;
			n = n0;
			break;
			}
		delete noise_endpoints[a, n];
		if ( [a, n] !in endpoints || shows_evidence(a) )
			next;
		local ep = endpoints[a, n];
		if ( ep$proven || ep$fanout || ep$id_sequence )
			next;
		delete endpoints[a, n];
		++evicted_entries;
		return T;
		}
	return refuse("endpoints", evidence, host);
	}

function room_in_chains(evidence: bool, host: addr): bool
	{
	if ( |chains| < max_entries )
		return T;
	while ( |noise_chains| > 0 )
		{
		local c = 0.0.0.0;
		local p = 0.0.0.0;
		for ( [c0, p0] in noise_chains )
			{
			c = c0;
			p = p0;
			break;
			}
		delete noise_chains[c, p];
		if ( [c, p] in chains && ! shows_evidence(c) )
			{
			delete chains[c, p];
			++evicted_entries;
			return T;
			}
		}
	return refuse("chains", evidence, host);
	}

function mark(ts: time, a: addr)
	{
	if ( a in marked || room_for(|marked|, "marked", a) )
		marked[a] = ts;
	}

## Applies a probe to the tables (shared by local detection and cluster updates).
function apply_probe(ts: time, client: addr, peer: addr, peer_p: port)
	{
	local n = port_to_count(peer_p);
	local evidence = shows_evidence(client);
	if ( [client, peer, n] in probes || room_in_probes(evidence, client) )
		{
		# The latest probe, also when an older one arrives late from another worker.
		probes[client, peer, n] = [client, peer, n] in probes && probes[client, peer, n] > ts
		    ? probes[client, peer, n] : ts;
		if ( ! evidence )
			add noise_probes[client, peer, n];
		}
	if ( [client, peer] in probed_hosts
	    || room_in_probed_hosts(evidence, client) )
		{
		probed_hosts[client, peer] = [client, peer] in probed_hosts &&
		    probed_hosts[client, peer] > ts ? probed_hosts[client, peer] : ts;
		if ( ! evidence )
			add noise_probed_hosts[client, peer];
		}
	}

function get_endpoint(ts: time, a: addr, n: count): Endpoint
	{
	if ( [a, n] !in endpoints )
		{
		endpoints[a, n] = Endpoint($last_seen=ts);
		if ( ! shows_evidence(a) )
			add noise_endpoints[a, n];
		}
	local ep = endpoints[a, n];
	if ( ts > ep$last_seen )
		ep$last_seen = ts;
	return ep;
	}

## The most *ids* (sorted, 16-bit) that form one run of steps 1..max_step, the run
## allowed to wrap from 65535 to 0.
function id_run_length(ids: vector of count, max_step: count): count
	{
	local n = |ids|;
	if ( n < 2 )
		return n;
	local best = 1;
	local run = 1;
	local k = 1;
	# Twice round the circle, so that a run across the wrap is seen whole.
	while ( k < 2 * n )
		{
		local step = ( ids[k % n] + 65536 - ids[( k - 1 ) % n] ) % 65536;
		run = ( step > 0 && step <= max_step ) ? run + 1 : 1;
		if ( run > best )
			best = run < n ? run : n;
		++k;
		}
	return best;
	}

## One counter numbers a client's messages: its probes to new peers within the fan-out
## window carry ids that, sorted, climb in small steps (wrapping at 65536).  Sorted, not
## in arrival order: probes go out in parallel, and in a cluster their flows reach the
## workers in no set order.
function id_run(ep: Endpoint, ts: time, a: addr, peer: addr, ident: count)
	{
	ep$ids[peer] = ident;
	ep$id_times[peer] = ts;
	local horizon = ts - fanout_window;
	local stale: set[addr] = set();
	for ( other, seen in ep$id_times )
		{
		if ( seen < horizon )
			add stale[other];
		}
	for ( other in stale )
		{
		delete ep$ids[other];
		delete ep$id_times[other];
		}
	# A bounded sample: the oldest go first.
	while ( |ep$ids| > 4 * id_seq_min )
		{
		local oldest = peer;
		local oldest_ts = ts;
		for ( other, seen in ep$id_times )
			{
			if ( seen < oldest_ts )
				{
				oldest = other;
				oldest_ts = seen;
				}
			}
		delete ep$ids[oldest];
		delete ep$id_times[oldest];
		}
	if ( |ep$ids| < id_seq_min )
		return;
	local sorted_ids: vector of count = vector();
	for ( _, i in ep$ids )
		sorted_ids += i;
	sort(sorted_ids); # numeric order, in C++ (no script comparator per comparison)
	if ( id_run_length(sorted_ids, id_seq_max_step) >= id_seq_min )
		{
		ep$id_sequence = T;
		ep$ids = table();
		ep$id_times = table();
		mark(ts, a);
		}
	}

function apply_new_flow(ts: time, a: addr, p: port, peer: addr, shaped: bool,
    ident: count)
	{
	local n = port_to_count(p);
	if ( ! shaped && [a, n] !in endpoints )
		return;
	if ( [a, n] !in endpoints && ! room_in_endpoints(shows_evidence(a), a) )
		return;

	local ep = get_endpoint(ts, a, n);
	++ep$flows;
	if ( ! shaped )
		return;

	++ep$u1_flows;
	if ( ! ep$id_sequence )
		id_run(ep, ts, a, peer, ident);
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
		{
		ep$fanout = T;
		mark(ts, a);
		}
	}

function apply_prove(ts: time, a: addr, p: port)
	{
	local n = port_to_count(p);
	mark(ts, a);
	if ( [a, n] !in endpoints && ! room_in_endpoints(T, a) )
		return;
	local ep = get_endpoint(ts, a, n);
	ep$proven = T;
	}

function apply_confirm(ts: time, a: addr)
	{
	# The first confirmation is kept (each one still renews the entry): a verdict held
	# in a cluster asks whether the host was confirmed by the time it was due.
	if ( a in confirmed )
		confirmed[a] = confirmed[a] < ts ? confirmed[a] : ts;
	else if ( room_for(|confirmed|, "confirmed", a) )
		confirmed[a] = ts;
	}

function apply_node(ts: time, a: addr, p: port, login_server: bool)
	{
	local n = port_to_count(p);
	if ( [a, n] in known_nodes || room_for(|known_nodes|, "known nodes", a) )
		known_nodes[a, n] = login_server;
	if ( a in known_node_hosts
	    || room_for(|known_node_hosts|, "known node hosts", a) )
		known_node_hosts[a] = login_server;
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

## One attempt moves a chain on (in time order).  T if the attempt belongs to it: on
## the first attempt's port or 443/80 within chain_window of it, or (*a*$start) the
## first attempt of a new one.
function chain_step(st: ChainState, a: Attempt): bool
	{
	if ( st$active && a$ts - st$first_ts <= chain_window )
		{
		if ( a$n == 443 || a$n == 80 )
			{
			st$fallback = T;
			return T;
			}
		return a$n == st$first_port;
		}
	if ( ! a$start )
		return F;
	st$active = T;
	st$first_ts = a$ts;
	st$first_port = a$n;
	st$fallback = F;
	return T;
	}

## Whether an attempt on port *n* could start a chain: from a client with probe evidence
## for the peer, on the port it probed or any high port (not 443/80).
function chain_start(ts: time, client: addr, peer: addr, p: port): bool
	{
	local n = port_to_count(p);
	if ( n == 443 || n == 80 || ! ( n >= 1024 || probed(ts, client, peer, p) ) )
		return F;
	return probed_host(ts, client, peer) || client in marked;
	}

## The kept attempts of *chain* made by *as_of* (they are ordered by time), stepped over a
## copy of its base: the state they leave, and whether the attempt at *ts* on port *n* is a
## member (*unseen* when no kept attempt is that one).  Both the verdict of a new attempt
## and the later check of a connection's own attempt read the chain this way.
function replay(chain: Chain, ts: time, n: count, as_of: time, unseen: bool)
    : Replay
	{
	local st = copy(chain$base);
	local member = unseen;
	for ( _, a in chain$recent )
		{
		if ( a$ts > as_of )
			break;
		local m = chain_step(st, a);
		if ( a$ts == ts && a$n == n )
			member = m;
		}
	return Replay($st=st, $member=member);
	}

## Records a TCP attempt of *client* on *peer*:*n* (local or from another worker).  T if
## it belongs to the chain as the attempts known now make it.
function apply_attempt(ts: time, client: addr, peer: addr, n: count,
    start: bool): bool
	{
	local cluster = Cluster::is_enabled();
	local evidence = shows_evidence(client);
	if ( [client, peer] !in chains )
		{
		# Standalone, a fallback attempt with no chain before it is part of none.  In a
		# cluster its chain's first attempt may still be on its way from another worker.
		if ( ! start && ! cluster )
			return F;
		if ( ! room_in_chains(evidence, client) )
			return F;
		chains[client, peer] = Chain($base=ChainState());
		}
	local chain = chains[client, peer];
	# A host with weak evidence only makes the chain it starts the first to go.
	if ( start
	    && ! evidence
	    && ( ! chain$base$active || ts - chain$base$first_ts > chain_window ) )
		add noise_chains[client, peer];
	local attempt = Attempt($ts=ts, $n=n, $start=start);
	if ( ! cluster )
		return chain_step(chain$base, attempt);

	# Placed by its time; equal times keep their arrival order.
	local recent: vector of Attempt = vector();
	local placed = F;
	for ( _, a in chain$recent )
		{
		if ( ! placed && ts < a$ts )
			{
			recent += attempt;
			placed = T;
			}
		recent += a;
		}
	if ( ! placed )
		recent += attempt;
	while ( |recent| > chain_log_max )
		{
		chain_step(chain$base, recent[0]);
		recent = recent[1:];
		}
	chain$recent = recent;

	# Sorted by time: the last attempt's time replays them all.
	return replay(chain, ts, n, recent[|recent| - 1]$ts, F)$member;
	}

## A UDP flow of *client*:*client_p* began with a U1-shaped datagram (id *ident*) to
## *peer*:*peer_p*: a probe and a new flow, which travel as one update.
function note_probe_flow(ts: time, client: addr, client_p: port, peer: addr,
    peer_p: port, ident: count)
	{
	apply_probe(ts, client, peer, peer_p);
	apply_new_flow(ts, client, client_p, peer, T, ident);
	event Skype::context_update(CTX_PROBE_FLOW, ts, client, peer, peer_p, T, ident,
	    client_p);
	}

## The first datagram of a UDP flow that *a*:*p* started, not U1-shaped: it counts
## only for a known Skype endpoint.
function note_new_flow(ts: time, a: addr, p: port, peer: addr, ident: count)
	{
	if ( [a, port_to_count(p)] !in endpoints )
		return;
	apply_new_flow(ts, a, p, peer, F, ident);
	event Skype::context_update(CTX_NEW_FLOW, ts, a, peer, p, F, ident, 0/unknown);
	}

## A strong signature proved that *a*:*p* speaks Skype.
function prove_endpoint(ts: time, a: addr, p: port)
	{
	apply_prove(ts, a, p);
	event Skype::context_update(CTX_PROVEN_ENDPOINT, ts, a, a, p, T, 0, 0/unknown);
	}

## A confirmed signature fired on a connection of *a*.
function confirm_host(ts: time, a: addr)
	{
	apply_confirm(ts, a);
	event Skype::context_update(CTX_CONFIRMED_HOST, ts, a, a, 0/unknown, T, 0,
	    0/unknown);
	}

## A strong signature showed *a*:*p* to be a super node or (*login_server*) a login server.
function prove_node(ts: time, a: addr, p: port, login_server: bool)
	{
	apply_node(ts, a, p, login_server);
	event Skype::context_update(CTX_NODE, ts, a, a, p, login_server, 0, 0/unknown);
	}

## *client* attempted TCP to *peer*:*p* (the originator's SYN).  Standalone: T if the
## attempt belongs to a fallback chain.  In a cluster: T if it may (its chain can start on
## another worker an instant before), to be settled when the connection is judged
## (:zeek:see:`Skype::chain_holds`).
function note_attempt(ts: time, client: addr, peer: addr, p: port): bool
	{
	local n = port_to_count(p);
	local start = chain_start(ts, client, peer, p);
	if ( ! Cluster::is_enabled() )
		return apply_attempt(ts, client, peer, n, start);

	# Only attempts a chain can hold travel: the possible first attempts, and 443/80 or
	# another attempt from a client that probed the peer or is known to run Skype.
	if ( ! start
	    && [client, peer] !in chains
	    && ! ( ( n == 443 || n == 80 ) && ( [client, peer] in probed_hosts || client in marked ) ) )
		return F;
	apply_attempt(ts, client, peer, n, start);
	event Skype::context_update(CTX_ATTEMPT, ts, client, peer, p, start, 0,
	    0/unknown);
	return T;
	}

function endpoint_proven(a: addr, p: port): bool
	{
	local n = port_to_count(p);
	return [a, n] in endpoints && endpoints[a, n]$proven;
	}

## Whether *host* showed itself a Skype client: a proven, fanning-out or counting Skype
## port, confirmed evidence, or a probe to *peer* just before.
function skype_client(ts: time, host: addr, peer: addr): bool
	{
	return host in marked || host in confirmed || probed_host(ts, host, peer);
	}

## Whether the connection from *client* to *peer*:*p* that began with the attempt at
## *start* belongs to a fallback chain that reached 443 or 80, as the attempts made by
## *as_of* (when its verdict was due) show.  Standalone that is the chain as it stands;
## in a cluster the attempts kept are replayed up to *as_of*, the connection's own
## attempt deciding whether it is part of the chain (one folded away long since is taken
## to be).
function chain_holds(start: time, client: addr, peer: addr, p: port,
    as_of: time): bool
	{
	if ( [client, peer] !in chains )
		return F;
	local chain = chains[client, peer];
	local n = port_to_count(p);
	local st = chain$base;
	local member = T;
	if ( |chain$recent| > 0 )
		{
		local r = replay(chain, start, n, as_of, T);
		st = r$st;
		member = r$member;
		}
	if ( ! member || ! st$active )
		return F;
	local d = start - st$first_ts;
	return st$fallback
	    && ( n == st$first_port || n == 443 || n == 80 )
	    && d >= 0sec
	    && d <= chain_window;
	}
