##! Host-level correlation of skype.log records into notices, on a standalone node or the
##! manager.  The same algorithm as the Python correlation core (skypewatch.correlate):
##!
##! Per client host it gathers the stages seen, the super nodes and login servers reached,
##! the public address U2 revealed and the connection uids.  A client qualifies with
##! confirmed evidence, or likely evidence from two different stages; its notice waits
##! :zeek:see:`Skype::notice_settle` so later stages of the same start-up land in it, and
##! suppression (:zeek:see:`Skype::session_gap`) keeps it to one per client per session.
##! An outside host whose only Skype traffic is with local hosts is not noticed itself: it
##! is one of the clients of a local super node, reported once
##! :zeek:see:`Skype::sn_min_clients` outside clients used it.

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
	};

	## Quiet time after a client qualifies before its notice is raised.
	option notice_settle: interval = 120sec;

	## Time without evidence that ends a client's session; also the notice suppression.
	option session_gap: interval = 1hr;

	## Distinct outside clients that make a local host a reported super node.
	option sn_min_clients: count = 5;

	## Records arrive when connections end, after their start time: the periodic check
	## treats sessions as settled only this long behind network time.
	option notice_tick_lag: interval = 10min;
}

const listed_max = 10;
const uids_max = 20;
const stage_names: vector of string = vector("probe", "sn_handshake", "login",
    "version_check", "media");

type ClientSession: record {
	first_ts: time;
	last_ts: time;
	stages: set[string] &default=set();
	likely_stages: set[string] &default=set();
	confirmed: bool &default=F;
	super_nodes: vector of string &default=vector();
	login_servers: vector of string &default=vector();
	public_ips: vector of string &default=vector();
	versions: vector of string &default=vector();
	uids: vector of string &default=vector();
	n: count &default=0;
	best_rank: count &default=0;
	best_ts: time &optional;
	best_uid: string &default="";
	best_id: conn_id &optional;
	best_proto: transport_proto &default=unknown_transport;
	notified: bool &default=F;
	reportable: bool &default=F;
};

type NodeCandidate: record {
	first_ts: time;
	last_ts: time;
	clients: vector of string &default=vector();
	uids: vector of string &default=vector();
	notified: bool &default=F;
};

global raise_client_notice: function(a: addr, s: ClientSession);
global settle_tick: event();

## Sessions that end unnoticed still get their notice.
function expire_session(t: table[addr] of ClientSession, a: addr): interval
	{
	local s = t[a];
	if ( ! s$notified
	    && ( s$confirmed || |s$likely_stages| >= 2 )
	    && s$reportable )
		raise_client_notice(a, s);
	return 0sec;
	}

global clients: table[addr] of ClientSession &write_expire=session_gap
    &expire_func=expire_session;
global nodes: table[addr] of NodeCandidate &write_expire=session_gap;
## Qualified clients waiting for their notice, by the whole second of their latest
## evidence: a client is due at that second + 1 + notice_settle (as in Python).
global waiting: table[count] of set[addr];
global next_second = 0;
global corr_clock = double_to_time(0.0);

function is_local(a: addr): bool
	{
	return |Site::local_nets| > 0 ? Site::is_local_addr(a) : Site::is_private_addr(a);
	}

function qualified(s: ClientSession): bool
	{
	return s$reportable && ( s$confirmed || |s$likely_stages| >= 2 );
	}

## Distinct values remembered per client session (the notice lists ten).
const max_kept = 4096;

function add_unique(v: vector of string, x: string)
	{
	if ( |v| >= max_kept )
		return;
	for ( _, y in v )
		{
		if ( y == x )
			return;
		}
	v += x;
	}

function listing(v: vector of string): string
	{
	local shown: vector of string = vector();
	for ( i, x in v )
		{
		if ( i < listed_max )
			shown += x;
		}
	local text = join_string_vec(shown, ",");
	if ( |v| > listed_max )
		text += fmt("(+%d)", |v| - listed_max);
	return text;
	}

function raise_client_notice(a: addr, s: ClientSession)
	{
	s$notified = T;
	local stages: vector of string = vector();
	for ( _, st in stage_names )
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
	local uids = "uids=" + join_string_vec(s$uids, ",");
	if ( s$n > |s$uids| )
		uids += fmt("(+%d)", s$n - |s$uids|);
	parts += uids;

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

function second_of(t: time): count
	{
	return double_to_count(floor(time_to_double(t)));
	}

function queue_notice(a: addr, s: ClientSession)
	{
	local b = second_of(s$last_ts);
	if ( b !in waiting )
		waiting[b] = set();
	add waiting[b][a];
	if ( |waiting| == 1 || b < next_second )
		next_second = b;
	}

## Move the correlation clock; raise the notices whose settle time has passed.
function advance(now: time)
	{
	if ( now <= corr_clock )
		return;
	corr_clock = now;
	local limit = time_to_double(now) - interval_to_double(notice_settle) - 1.0;
	if ( |waiting| == 0 || limit < 0.0 )
		return;
	local last_due = double_to_count(floor(limit));
	while ( next_second <= last_due && |waiting| > 0 )
		{
		if ( next_second in waiting )
			{
			for ( a in waiting[next_second] )
				{
				# Entries are stale when the client has had newer evidence since.
				if ( a in clients
				    && ! clients[a]$notified
				    && second_of(clients[a]$last_ts) == next_second )
					raise_client_notice(a, clients[a]);
				}
			delete waiting[next_second];
			}
		++next_second;
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

	if ( ! is_local(node) || is_local(outside) )
		return;
	if ( node !in nodes || ts - nodes[node]$last_ts > session_gap )
		nodes[node] = NodeCandidate($first_ts=ts, $last_ts=ts);
	local c = nodes[node];
	if ( ts > c$last_ts )
		c$last_ts = ts;
	add_unique(c$clients, cat(outside));
	if ( |c$uids| < uids_max )
		c$uids += uid;
	if ( ! c$notified && |c$clients| >= sn_min_clients )
		{
		c$notified = T;
		NOTICE(Notice::Info($note=Local_Super_Node, $ts=c$last_ts, $msg=fmt(
		    "%s relays legacy Skype: probed by %d outside clients",
		    node, |c$clients|), $sub="clients=" + listing(
		    c$clients) + " uids=" + join_string_vec(c$uids, ","),
		    $src=node, $n=|c$clients|, $uid=c$uids[0], $identifier=cat(
		    node), $suppress_for=session_gap));
		}
	}

event Skype::detection(ts: time, uid: string, orig_h: addr, orig_p: port,
    resp_h: addr, resp_p: port, proto: string, duration: double, stage: string,
    signatures: string, client: addr, peer: addr, peer_role: string,
    client_public_ip: string, skype_version: string, confidence: string,
    evidence: string)
	{
	if ( Cluster::is_enabled() && Cluster::local_node_type() != Cluster::MANAGER )
		return;

	advance(ts);
	if ( client in clients && ts - clients[client]$last_ts > session_gap )
		{
		if ( qualified(clients[client]) && ! clients[client]$notified )
			raise_client_notice(client, clients[client]);
		delete clients[client];
		}
	if ( client !in clients )
		clients[client] = ClientSession($first_ts=ts, $last_ts=ts);
	local s = clients[client];
	if ( ts < s$first_ts )
		s$first_ts = ts;
	if ( ts > s$last_ts )
		s$last_ts = ts;
	++s$n;
	if ( ! s$reportable && ( is_local(client) || ! is_local(peer) ) )
		s$reportable = T;
	add s$stages[stage];
	local rank = confidence == "confirmed" ? 3 : confidence == "likely" ? 2 : 1;
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
		s$best_id = conn_id($orig_h=orig_h, $orig_p=orig_p, $resp_h=resp_h,
		    $resp_p=resp_p);
		s$best_proto = get_port_transport_proto(orig_p);
		}
	if ( peer_role == "super_node" )
		add_unique(s$super_nodes, cat(peer));
	else if ( peer_role == "login_server" )
		add_unique(s$login_servers, cat(peer));
	if ( client_public_ip != "" )
		add_unique(s$public_ips, client_public_ip);
	if ( skype_version != "" )
		add_unique(s$versions, skype_version);
	if ( |s$uids| < uids_max )
		s$uids += uid;
	if ( qualified(s) && ! s$notified )
		queue_notice(client, s);
	observe_node(ts, uid, orig_h, client, peer, peer_role, stage);
	}

## Without new records nothing moves the clock: a periodic check settles quiet clients.
event Skype::settle_tick()
	{
	advance(network_time() - notice_tick_lag);
	schedule notice_settle { Skype::settle_tick() };
	}

event network_time_init()
	{
	if ( ! Cluster::is_enabled()
	    || Cluster::local_node_type() == Cluster::MANAGER )
		schedule notice_settle { Skype::settle_tick() };
	}

function earlier(x: time, y: time): int
	{
	if ( x < y )
		return -1;
	if ( x > y )
		return 1;
	return 0;
	}

## End of input: every qualified client still waiting gets its notice, oldest first.
event zeek_done()
	{
	# "order" would shadow the order() built-in.
	local due_times: vector of time = vector();
	local by_ts: table[time] of set[addr] = table();
	local queued: set[addr] = set();
	for ( _, those in waiting )
		for ( a in those )
			add queued[a];
	for ( a in queued )
		{
		if ( a !in clients || clients[a]$notified )
			next;
		local last = clients[a]$last_ts;
		if ( last !in by_ts )
			{
			by_ts[last] = set();
			due_times += last;
			}
		add by_ts[last][a];
		}
	sort(due_times, earlier);
	for ( _, due in due_times )
		for ( b in by_ts[due] )
			raise_client_notice(b, clients[b]);
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
	# The correlator's finding is a notice of its own: suppressed against its own kind only,
	# not against the notice this script raised for the same host.
	local info = Notice::Info($note=kind, $ts=ts, $msg=msg, $sub=sub, $src=client,
	    $n=n, $identifier=cat("correlator/", client),
	    $suppress_for=session_gap);
	if ( uid != "" )
		info$uid = uid;
	NOTICE(info);
	}
