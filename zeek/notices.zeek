##! Host-level correlation of skype.log records into notices, on a standalone node or the
##! manager.  The same algorithm as the Python correlation core (skypewatch.correlate):
##!
##! Per client host it gathers the stages seen, the super nodes and login servers reached,
##! the public address U2 revealed and the connection uids.  A client qualifies with
##! confirmed evidence, or likely evidence from two different stages; its notice waits until
##! :zeek:see:`Skype::notice_settle` after the whole second of its latest evidence, so later
##! stages of the same start-up land in it, and there is one notice per client per session
##! (:zeek:see:`Skype::session_gap`).  An outside host whose only Skype traffic is with
##! local hosts is not noticed itself: it is one of the clients of a local super node,
##! reported (after the same settling) once :zeek:see:`Skype::sn_min_clients` outside
##! clients used it.
##!
##! The clock is the records' own timestamps, never the wall clock, so a capture, a log
##! replay and a live feed give the same notices.  It stands still while connections are
##! judged at the end of input (or while a worker does so at shutdown): they end in no set
##! order, so every one of their records is in before a notice is due.
##!
##! The client and relay tables are bounded (:zeek:see:`Skype::max_hosts` each) by value,
##! as the Python engine's: when one is full, a host with weak evidence only makes room
##! (counted in :zeek:see:`Skype::evicted_hosts`), a host with likely evidence or a
##! pending notice is never displaced by such hosts, and a host with evidence that finds
##! no room is a ``Skype_state_full`` weird (:zeek:see:`Skype::lost_hosts`).
##!
##! One home per deployment: while a WebSocket client (the skypewatch correlator) is
##! subscribed to the package's topics, it raises the notices of the sessions it saw whole,
##! and its findings come back as :zeek:see:`Skype::correlated_notice`.  Whichever side
##! raises a client's notice first, notice.log holds one notice per client per session.

@load base/frameworks/notice
@load base/utils/site
@load ./main
@load ./events

module Skype;

export {
	redef enum Notice::Type += {
		## A host runs legacy Skype: confirmed evidence, or likely evidence from two
		## stages of its start-up.
		Client_Detected,
		## A host went through a full start-up: probe or super-node handshake, then login.
		Login_Sequence,
		## A host inside the network relays legacy Skype for outside clients: the seed
		## study's main security concern.
		Local_Super_Node,
		## A finding the Python correlator sent with a note name this script does not know.
		External_Correlation,
		## A host tried to start legacy Skype and nothing answered: a firewall stopped
		## it.  The notice says how many super nodes it probed over UDP, which TCP ports
		## it tried and when.
		Blocked_Startup,
	};

	## Quiet time after a host qualifies before its notice is raised.
	option notice_settle: interval = 120sec;

	## Time without evidence that ends a client's session; also the notice suppression.
	option session_gap: interval = 1hr;

	## Distinct outside clients that make a local host a reported super node.
	option sn_min_clients: count = 5;

	## Live only: after this much network time without a record, the clock moves on by
	## itself, so that the notice of a client that went quiet is not held forever.
	option notice_tick_lag: interval = 10min;

	## Upper bound on client sessions, and on super-node candidates, remembered at once
	## (see above for what a full table gives up).
	option max_hosts: count = 100000;

	## Hosts with weak evidence only that made room in a full client or relay table.
	global evicted_hosts: count = 0;

	## Hosts not stored because their table was full of hosts worth as much or more.
	global dropped_hosts: count = 0;

	## Of those, hosts with likely-or-better evidence (each also a weird).
	global lost_hosts: count = 0;
}

const listed_max = 10;
const uids_max = 20;
## Distinct values remembered per session (the notice lists ten).
const max_kept = 4096;
## The stages a notice lists, in this order.
const notice_stage_order: vector of string = vector("probe", "sn_handshake",
    "login", "version_check", "media");

type ClientSession: record {
	first_ts: time;
	last_ts: time;
	stages: set[string] &default=set();
	likely_stages: set[string] &default=set();
	confirmed: bool &default=F;
	super_nodes: set[string] &default=set();
	login_servers: set[string] &default=set();
	public_ips: set[string] &default=set();
	versions: set[string] &default=set();
	uids: vector of string &default=vector();
	n: count &default=0;
	best_rank: count &default=0;
	best_ts: time &optional;
	best_uid: string &default="";
	best_id: conn_id &optional;
	best_proto: transport_proto &default=unknown_transport;
	notified: bool &default=F;
	reportable: bool &default=F;
	## A correlator saw every record of this session: its notice is the correlator's.
	handed_over: bool &default=F;
	## The due second this session is queued under (0: none).
	queued_due: count &default=0;
	## Some connection of the session got an answer.
	answered: bool &default=F;
	## Peers of its UDP probes, and the ports it tried over TCP.
	probed: set[string] &default=set();
	tcp_ports: set[count] &default=set();
};

type NodeCandidate: record {
	first_ts: time;
	last_ts: time;
	clients: set[string] &default=set();
	uids: vector of string &default=vector();
	notified: bool &default=F;
	handed_over: bool &default=F;
	queued_due: count &default=0;
};

global raise_client_notice: function(a: addr, s: ClientSession);
global settle_tick: event();

# Every stored host's address, until it is checked (when a table is full) and found to
# be worth more than noise: the candidates for eviction, each looked at once.
global noise_clients: set[addr];
global noise_nodes: set[addr];

function expire_session(t: table[addr] of ClientSession, a: addr): interval
	{
	delete noise_clients[a];
	local s = t[a];
	if ( ! s$notified
	    && ! s$handed_over
	    && s$reportable
	    && ( s$confirmed || |s$likely_stages| >= 2 ) )
		raise_client_notice(a, s);
	return 0sec;
	}

global raise_node_notice: function(node: addr, c: NodeCandidate);

function expire_node(t: table[addr] of NodeCandidate, node: addr): interval
	{
	delete noise_nodes[node];
	local c = t[node];
	if ( ! c$notified && ! c$handed_over && |c$clients| >= sn_min_clients )
		raise_node_notice(node, c);
	return 0sec;
	}

# A session lasts while records keep coming: every record reads its entry.
global clients: table[addr] of ClientSession &read_expire=session_gap
    &expire_func=expire_session;
global nodes: table[addr] of NodeCandidate &read_expire=session_gap
    &expire_func=expire_node;

## Hosts whose notice is due, by due second (the whole second of their latest evidence
## + 1 + notice_settle, as in Python).  F: clients, T: super-node candidates.
global due: table[count, bool] of set[addr];
## Latest record timestamp seen, and the network time it arrived at.
global clock = double_to_time(0.0);
global clock_arrival = double_to_time(0.0);
## Worker nodes judging their open connections at shutdown (see cluster.zeek).
global draining: set[string];
## WebSocket endpoints subscribed to the package's detections.
global correlators: set[string];

# Inside the site is ``a in Site::local_nets`` (what Site::is_local_addr answers, without
# two calls per record): ``redef Site::local_nets`` governs it, and with Zeek's default
# ``Site::private_address_space_is_local = T`` the private address space is in it too.
# The Python tools' ``--local-nets`` mirrors this; their default is Zeek 8's list.

## Confirmed, or likely from two stages; of a start-up nothing answered (it was blocked),
## likely evidence from one stage is enough.
function qualified(s: ClientSession): bool
	{
	if ( ! s$reportable )
		return F;
	if ( s$answered )
		return s$confirmed || |s$likely_stages| >= 2;
	return |s$likely_stages| > 0;
	}

## A full table could not store *a*: counted, and reported if it had evidence.
function refuse_host(table_name: string, evidence: bool, a: addr): bool
	{
	++dropped_hosts;
	if ( evidence )
		{
		++lost_hosts;
		Reporter::net_weird("Skype_state_full", fmt("%s: %s (max_hosts)", table_name,
		    a));
		}
	return F;
	}

## Room for a new client session worth *evidence*: a client with weak evidence only (no
## likely stage, no notice pending or out) goes if need be.
function room_for_client(evidence: bool, a: addr): bool
	{
	if ( |clients| < max_hosts )
		return T;
	while ( |noise_clients| > 0 )
		{
		# the first key an iteration yields, removed after the loop
		local c = 0.0.0.0;
		for ( c0 in noise_clients )
			{
			c = c0;
			break;
			}
		delete noise_clients[c];
		if ( c !in clients )
			next;
		local s = clients[c];
		if ( s$notified || |s$likely_stages| > 0 )
			next;
		delete clients[c];
		++evicted_hosts;
		return T;
		}
	return refuse_host("clients", evidence, a);
	}

## Room for a new super-node candidate worth *evidence*: one not yet qualified goes.
function room_for_node(evidence: bool, a: addr): bool
	{
	if ( |nodes| < max_hosts )
		return T;
	while ( |noise_nodes| > 0 )
		{
		local n = 0.0.0.0;
		for ( n0 in noise_nodes )
			{
			n = n0;
			break;
			}
		delete noise_nodes[n];
		if ( n !in nodes )
			next;
		local c = nodes[n];
		if ( c$notified || |c$clients| >= sn_min_clients )
			next;
		delete nodes[n];
		++evicted_hosts;
		return T;
		}
	return refuse_host("super-node candidates", evidence, a);
	}

function holding(): bool
	{
	return zeek_is_terminating() || |draining| > 0;
	}

function note_value(values: set[string], x: string)
	{
	if ( |values| < max_kept )
		add values[x];
	}

## The size of a per-host set, which stops growing at max_kept: ">=N" once it reached
## the cap (more were seen than kept), else the count (as the Python engine writes it).
function capped(n: count): string
	{
	return n >= max_kept ? fmt(">=%d", n) : cat(n);
	}

## Up to ten values, sorted (records arrive as connections end, in no set order).
function listing(values: set[string]): string
	{
	local names: vector of string = vector();
	for ( x in values )
		names += x;
	sort(names, strcmp);
	local shown: vector of string = vector();
	for ( i, x in names )
		{
		if ( i >= listed_max )
			break;
		shown += x;
		}
	local text = join_string_vec(shown, ",");
	if ( |names| > listed_max )
		text += ( |names| >= max_kept ? "(+>=" : "(+" ) + fmt("%d)", |names| -
		    listed_max);
	return text;
	}

function uid_listing(s: ClientSession): string
	{
	local uids = "uids=" + join_string_vec(s$uids, ",");
	if ( s$n > |s$uids| )
		uids += fmt("(+%d)", s$n - |s$uids|);
	return uids;
	}

## A start-up that a firewall stopped: what the client tried, and that nothing answered.
function raise_blocked_notice(a: addr, s: ClientSession)
	{
	s$notified = T;
	local ports: vector of count = vector();
	for ( port_number in s$tcp_ports )
		ports += port_number;
	sort(ports, function(x: count, y: count): int
		{
		return x < y ? -1 : x > y ? 1 : 0;
		});
	local names: vector of string = vector();
	for ( _, port_number in ports )
		names += cat(port_number);
	local tried = |names| > 0 ? join_string_vec(names, ",") : "none";
	local parts: vector of string = vector(fmt("first=%.6f", time_to_double(
	    s$first_ts)), fmt("last=%.6f", time_to_double(s$last_ts)));
	if ( |s$probed| > 0 )
		parts += "super_nodes=" + listing(s$probed);
	parts += "tcp_ports=" + tried;
	parts += uid_listing(s);
	local n = Notice::Info($note=Blocked_Startup, $ts=s$last_ts, $msg=fmt("%s tried to start legacy Skype and nothing answered: probed %s super nodes over UDP, tried TCP ports %s; %d connections",
	    a, capped(|s$probed|), tried, s$n), $sub=join_string_vec(parts,
	    " "), $src=a, $n=s$n, $uid=s$best_uid, $identifier=cat(a),
	    $suppress_for=session_gap);
	if ( s?$best_id )
		{
		n$id = s$best_id;
		n$proto = s$best_proto;
		}
	NOTICE(n);
	}

function raise_client_notice(a: addr, s: ClientSession)
	{
	if ( ! s$answered )
		{
		raise_blocked_notice(a, s);
		return;
		}
	s$notified = T;
	local stages: vector of string = vector();
	for ( _, st in notice_stage_order )
		{
		if ( st in s$stages )
			stages += st;
		}
	local note = Client_Detected;
	if ( "login" in s$likely_stages
	    && ( "probe" in s$likely_stages || "sn_handshake" in s$likely_stages ) )
		note = Login_Sequence;
	local level = s$confirmed ? "confirmed" : "likely";
	local parts: vector of string = vector();
	if ( |s$public_ips| > 0 )
		parts += "public_ip=" + listing(s$public_ips);
	if ( |s$super_nodes| > 0 )
		parts += "super_nodes=" + listing(s$super_nodes);
	if ( |s$login_servers| > 0 )
		parts += "login_servers=" + listing(s$login_servers);
	if ( |s$versions| > 0 )
		parts += "version=" + listing(s$versions);
	parts += uid_listing(s);

	local n = Notice::Info($note=note, $ts=s$last_ts, $msg=fmt(
	    "%s runs legacy Skype (%s): stages %s; %d connections", a, level,
	    join_string_vec(stages, ", "), s$n), $sub=join_string_vec(parts,
	    " "), $src=a, $n=s$n, $uid=s$best_uid, $identifier=cat(a),
	    $suppress_for=session_gap);
	if ( s?$best_id )
		{
		n$id = s$best_id;
		n$proto = s$best_proto;
		}
	NOTICE(n);
	}

function raise_node_notice(node: addr, c: NodeCandidate)
	{
	c$notified = T;
	NOTICE(Notice::Info($note=Local_Super_Node, $ts=c$last_ts, $msg=fmt(
	    "%s relays legacy Skype: probed by %s outside clients", node,
	    capped(|c$clients|)), $sub="clients=" + listing(
	    c$clients) + " uids=" + join_string_vec(c$uids, ","), $src=node,
	    $n=|c$clients|, $uid=c$uids[0], $identifier=cat(node),
	    $suppress_for=session_gap));
	}

function due_second(last: time): count
	{
	return double_to_count(floor(time_to_double(last))) + 1 + double_to_count(
	    interval_to_double(notice_settle));
	}

## The earliest due second queued (0: none): most records need no look at the queue.
global earliest_due = 0;

function queue_notice(a: addr, b: count, is_node: bool)
	{
	if ( [b, is_node] !in due )
		due[b, is_node] = set();
	add due[b, is_node][a];
	if ( earliest_due == 0 || b < earliest_due )
		earliest_due = b;
	}

## Raises the notice *a* is waiting for, if its entry in bucket *b* still stands (a host
## with newer evidence has a later entry); *b* 0 means at any time (end of input).
function raise_due(a: addr, is_node: bool, b: count)
	{
	if ( is_node )
		{
		if ( a !in nodes || nodes[a]$notified || nodes[a]$handed_over )
			return;
		if ( b == 0 || due_second(nodes[a]$last_ts) == b )
			raise_node_notice(a, nodes[a]);
		return;
		}
	if ( a !in clients || clients[a]$notified || clients[a]$handed_over )
		return;
	if ( b == 0 || due_second(clients[a]$last_ts) == b )
		raise_client_notice(a, clients[a]);
	}

## Moves the clock to *now*: raises the notices due by then, oldest first.
function advance(now: time)
	{
	if ( now <= clock )
		return;
	clock = now;
	clock_arrival = network_time();
	local limit = time_to_double(now);
	if ( earliest_due == 0 || earliest_due > limit )
		return;
	local ready: vector of count = vector();
	for ( [b, is_node] in due )
		{
		if ( b <= limit )
			ready += b;
		}
	sort(ready, function(x: count, y: count): int
		{
		return x < y ? -1 : x > y ? 1 : 0;
		});
	for ( _, b in ready )
		{
		for ( is_node in set(F, T) )
			{
			if ( [b, is_node] !in due )
				next;
			for ( a in due[b, is_node] )
				raise_due(a, is_node, b);
			delete due[b, is_node];
			}
		}
	earliest_due = 0;
	for ( [b, is_node] in due )
		{
		if ( earliest_due == 0 || b < earliest_due )
			earliest_due = b;
		}
	}

function observe_node(ts: time, uid: string, orig_h: addr, client: addr,
    peer: addr, peer_role: string, stage: string)
	{
	local node: addr;
	local outside: addr;
	if ( peer_role == "super_node" && stage == "probe" )
		{
		node = peer;
		outside = client;
		}
	else if ( peer_role == "peer" && orig_h == peer )
		{
		node = client;
		outside = peer;
		}
	else
		return;

	if ( node !in Site::local_nets || outside in Site::local_nets )
		return;
	if ( node in nodes && ts - nodes[node]$last_ts > session_gap )
		delete nodes[node];
	if ( node !in nodes )
		{
		# a new candidate has one outside client: below sn_min_clients, weak
		if ( ! room_for_node(sn_min_clients <= 1, node) )
			return;
		nodes[node] = NodeCandidate($first_ts=ts, $last_ts=ts,
		    $handed_over=|correlators| > 0);
		add noise_nodes[node];
		}
	local c = nodes[node];
	if ( ts > c$last_ts )
		c$last_ts = ts;
	if ( |correlators| == 0 )
		c$handed_over = F;
	note_value(c$clients, cat(outside));
	if ( |c$uids| < uids_max )
		c$uids += uid;
	if ( ! c$notified && |c$clients| >= sn_min_clients )
		{
		local b = due_second(c$last_ts);
		if ( b != c$queued_due )
			{
			c$queued_due = b;
			queue_notice(node, b, T);
			}
		}
	}

## One record into the client and relay sessions.
function observe(ts: time, uid: string, id: conn_id, stage: string,
    client: addr, peer: addr, peer_role: string, client_public_ip: string,
    skype_version: string, confidence: string, answered: bool)
	{
	# (advance() returns at once for a time not past the clock: most records)
	if ( ts > clock && ! holding() )
		advance(ts);
	local relayed = peer_role == "super_node" || peer_role == "peer";
	if ( client in clients )
		{
		local known = clients[client];
		if ( ts - known$last_ts > session_gap )
			{
			if ( qualified(known) && ! known$notified && ! known$handed_over )
				raise_client_notice(client, known);
			delete clients[client];
			}
		else if ( known$notified )
			{
			# Noticed already: the record only keeps the session going.
			if ( ts > known$last_ts )
				known$last_ts = ts;
			if ( relayed )
				observe_node(ts, uid, id$orig_h, client, peer, peer_role, stage);
			return;
			}
		}
	local rank = confidence == "confirmed" ? 3 : confidence == "likely" ? 2 : 1;
	if ( client !in clients )
		{
		if ( ! room_for_client(rank >= 2, client) )
			{
			if ( relayed )
				observe_node(ts, uid, id$orig_h, client, peer, peer_role, stage);
			return;
			}
		clients[client] = ClientSession($first_ts=ts, $last_ts=ts,
		    $handed_over=|correlators| > 0);
		add noise_clients[client];
		}
	local s = clients[client];
	if ( ts < s$first_ts )
		s$first_ts = ts;
	if ( ts > s$last_ts )
		s$last_ts = ts;
	# A record no correlator received makes the session Zeek's again.
	if ( |correlators| == 0 )
		s$handed_over = F;
	++s$n;
	if ( ! s$reportable
	    && ( client in Site::local_nets || peer !in Site::local_nets ) )
		s$reportable = T;
	add s$stages[stage];
	if ( rank >= 2 )
		add s$likely_stages[stage];
	if ( rank == 3 )
		s$confirmed = T;
	if ( ! s?$best_ts
	    || rank > s$best_rank
	    || ( rank == s$best_rank && ts < s$best_ts ) )
		{
		s$best_rank = rank;
		s$best_ts = ts;
		s$best_uid = uid;
		s$best_id = id;
		s$best_proto = get_port_transport_proto(id$orig_p);
		}
	if ( answered )
		s$answered = T;
	local proto = get_port_transport_proto(id$resp_p);
	if ( stage == "probe" && proto == udp )
		note_value(s$probed, cat(peer));
	else if ( proto == tcp && |s$tcp_ports| < max_kept )
		add s$tcp_ports[port_to_count(id$resp_p)];
	if ( peer_role == "super_node" )
		note_value(s$super_nodes, cat(peer));
	else if ( peer_role == "login_server" )
		note_value(s$login_servers, cat(peer));
	if ( client_public_ip != "" )
		note_value(s$public_ips, client_public_ip);
	if ( skype_version != "" )
		note_value(s$versions, skype_version);
	if ( |s$uids| < uids_max )
		s$uids += uid;
	if ( qualified(s) && ! s$notified )
		{
		local b = due_second(s$last_ts);
		if ( b != s$queued_due )
			{
			s$queued_due = b;
			queue_notice(client, b, F);
			}
		}
	if ( relayed )
		observe_node(ts, uid, id$orig_h, client, peer, peer_role, stage);
	}

function correlate(info: Info)
	{
	observe(info$ts, info$uid, info$id, info$stage, info$client, info$peer,
	    info$peer_role, info?$client_public_ip ? cat(info$client_public_ip) : "",
	    info?$skype_version ? info$skype_version : "", info$confidence,
	    info$answered);
	}

# A worker's record, on the manager.
event Skype::detection(ts: time, uid: string, orig_h: addr, orig_p: port,
    resp_h: addr, resp_p: port, proto: string, duration: double, stage: string,
    signatures: string, client: addr, peer: addr, peer_role: string,
    client_public_ip: string, skype_version: string, confidence: string,
    evidence: string, answered: bool)
	{
	if ( Cluster::is_enabled() && Cluster::local_node_type() == Cluster::MANAGER )
		observe(ts, uid, conn_id($orig_h=orig_h, $orig_p=orig_p, $resp_h=resp_h,
		    $resp_p=resp_p), stage, client, peer, peer_role,
		    client_public_ip, skype_version, confidence, answered);
	}

# Live: a quiet input must not hold a qualified client's notice forever.  The clock moves
# by the network time that passed since the last record, less the lag (reading a capture,
# the end of input raises what is left instead, as the Python engine does).
event Skype::settle_tick()
	{
	local quiet = network_time() - clock_arrival;
	if ( ! holding()
	    && clock_arrival > double_to_time(0.0)
	    && quiet > notice_tick_lag )
		advance(clock + quiet - notice_tick_lag);
	schedule notice_settle { Skype::settle_tick() };
	}

event network_time_init()
	{
	if ( ! reading_traces()
	    && ( ! Cluster::is_enabled() || Cluster::local_node_type() == Cluster::MANAGER ) )
		schedule notice_settle { Skype::settle_tick() };
	}

# End of input: every notice still waiting, oldest evidence first.
event zeek_done()
	{
	local waiting: table[addr, bool] of time = table();
	for ( [b, is_node], those in due )
		for ( a in those )
			{
			if ( is_node && a in nodes )
				waiting[a, is_node] = nodes[a]$last_ts;
			else if ( ! is_node && a in clients )
				waiting[a, is_node] = clients[a]$last_ts;
			}
	local times: vector of time = vector();
	for ( [a, is_node], last in waiting )
		times += last;
	sort(times, function(x: time, y: time): int
		{
		return x < y ? -1 : x > y ? 1 : 0;
		});
	local previous = double_to_time(0.0);
	for ( _, t in times )
		{
		if ( t == previous )
			next;
		previous = t;
		for ( [a, is_node], last in waiting )
			{
			if ( last == t )
				raise_due(a, is_node, 0);
			}
		}
	}

event Cluster::websocket_client_added(endpoint: Cluster::EndpointInfo,
    subscriptions: string_vec)
	{
	for ( _, prefix in subscriptions )
		{
		if ( starts_with(topic_prefix + "detection", prefix) )
			{
			add correlators[endpoint$id];
			return;
			}
		}
	}

event Cluster::websocket_client_lost(endpoint: Cluster::EndpointInfo,
    code: count, reason: string)
	{
	if ( endpoint$id !in correlators )
		return;
	delete correlators[endpoint$id];
	if ( |correlators| > 0 )
		return;
	# Nobody else holds these sessions now: their notices are Zeek's again.
	for ( a, s in clients )
		{
		if ( s$handed_over && ! s$notified )
			{
			s$handed_over = F;
			if ( qualified(s) )
				queue_notice(a, due_second(s$last_ts), F);
			}
		}
	for ( node, c in nodes )
		{
		if ( c$handed_over && ! c$notified )
			{
			c$handed_over = F;
			if ( |c$clients| >= sn_min_clients )
				queue_notice(node, due_second(c$last_ts), T);
			}
		}
	}

event Skype::correlated_notice(ts: time, note: string, client: addr,
    msg: string, sub: string, n: count, uid: string)
	{
	local kind = External_Correlation;
	if ( note == "Skype::Client_Detected" )
		kind = Client_Detected;
	else if ( note == "Skype::Login_Sequence" )
		kind = Login_Sequence;
	else if ( note == "Skype::Local_Super_Node" )
		kind = Local_Super_Node;
	else if ( note == "Skype::Blocked_Startup" )
		kind = Blocked_Startup;

	# One notice per finding: a session already noticed (here, or by an earlier message
	# of the correlator) takes no second one.
	if ( kind == Local_Super_Node )
		{
		if ( client in nodes && nodes[client]$notified )
			return;
		if ( client !in nodes && room_for_node(T, client) )
			nodes[client] = NodeCandidate($first_ts=ts, $last_ts=ts);
		if ( client in nodes )
			nodes[client]$notified = T;
		}
	else if ( kind != External_Correlation )
		{
		if ( client in clients && clients[client]$notified )
			return;
		if ( client !in clients && room_for_client(T, client) )
			clients[client] = ClientSession($first_ts=ts, $last_ts=ts);
		if ( client in clients )
			clients[client]$notified = T;
		}

	local info = Notice::Info($note=kind, $ts=ts, $msg=msg, $sub=sub, $src=client,
	    $n=n, $identifier=cat(client), $suppress_for=session_gap);
	if ( uid != "" )
		info$uid = uid;
	NOTICE(info);
	}
