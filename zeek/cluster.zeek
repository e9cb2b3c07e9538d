##! Cluster support.  Workers detect per connection; the host context they build (probes,
##! fan-out, proven endpoints, confirmed hosts) is shared through the manager so that a
##! probe seen on one worker explains the TCP connection another worker sees.  The
##! detections themselves go to the manager, which correlates them into notices
##! (events.zeek, notices.zeek).  A verdict that depends on other connections of the
##! same client (a TCP fallback chain) is held for :zeek:see:`Skype::context_settle`, so
##! that what the other workers saw before it was due has arrived (context.zeek).  Loaded
##! only when the cluster framework is enabled.

@load base/frameworks/cluster
@load ./context
@load ./sn_handshake
@load ./notices
@load ./share

module Skype;

export {
	## A host-context update travelling worker -> manager -> other workers.
	global share_context: event(origin: string, kind: ContextKind, ts: time,
	    a: addr, b: addr, p: port, flag: bool, n: count, q: port) &is_used;

	## Sent by a worker to the manager when it starts judging its open connections at
	## shutdown: the manager's notice clock stands still until that worker is down.
	global node_draining: event(node: string) &is_used;
}

event net_done(t: time)
	{
	if ( Cluster::local_node_type() == Cluster::WORKER )
		Cluster::publish(Cluster::manager_topic, Skype::node_draining, Cluster::node);
	}

event Skype::node_draining(node: string)
	{
	if ( Cluster::local_node_type() == Cluster::MANAGER )
		add draining[node];
	}

event Cluster::node_down(name: string, id: string)
	{
	if ( name in draining )
		delete draining[name];
	}

# Whether the probes another worker saw can still change the connection's verdict: TCP
# whose first payload found host context, but not (yet) the client's probe of the peer.
function probe_pending(s: State): bool
	{
	return s$orig_data
	    && s?$data_ts
	    && ( ! s$probed_endpoint || ! s$probed_host );
	}

# A TCP attempt that may belong to a fallback chain waits for the attempts the other
# workers saw before its verdict was due (see context.zeek's chain_holds), and TCP that
# found host context but no probe waits for the probes they saw before its first payload.
hook Skype::hold_verdict(c: connection)
	{
	if ( Cluster::local_node_type() != Cluster::WORKER )
		return;
	local s = c$skype_state;
	if ( s$attempt || probe_pending(s) )
		break;
	}

# The client's probes of the peer as of its first payload, those from other workers
# included (a probe microseconds before the payload may have reached this worker after it).
hook Skype::refresh_context(c: connection)
	{
	local s = c$skype_state;
	if ( Cluster::local_node_type() != Cluster::WORKER || ! probe_pending(s) )
		return;
	if ( ! s$probed_endpoint )
		s$probed_endpoint = probed(s$data_ts, c$id$orig_h, c$id$resp_h, c$id$resp_p);
	if ( ! s$probed_host )
		s$probed_host = probed_host(s$data_ts, c$id$orig_h, c$id$resp_h);
	}

event Skype::context_update(kind: ContextKind, ts: time, a: addr, b: addr,
    p: port, flag: bool, n: count, q: port)
	{
	if ( Cluster::local_node_type() == Cluster::WORKER
	    && worth_sharing(kind, ts, a, p, flag) )
		Cluster::publish(Cluster::manager_topic, Skype::share_context, Cluster::node,
		    kind, ts, a, b, p, flag, n, q);
	}

event Skype::share_context(origin: string, kind: ContextKind, ts: time, a: addr,
    b: addr, p: port, flag: bool, n: count, q: port)
	{
	if ( Cluster::local_node_type() == Cluster::MANAGER )
		{
		if ( worth_sharing(kind, ts, a, p, flag) )
			Cluster::publish(Cluster::worker_topic, Skype::share_context, origin, kind, ts, a, b,
			    p, flag, n, q);
		return;
		}
	if ( origin == Cluster::node )
		return;

	# Apply without raising context_update again: no echo.
	switch ( kind )
		{
		case CTX_PROBE_FLOW:
			apply_probe(ts, a, b, p);
			apply_new_flow(ts, a, q, b, T, n);
			break;
		case CTX_NEW_FLOW:
			apply_new_flow(ts, a, p, b, flag, n);
			break;
		case CTX_PROVEN_ENDPOINT:
			apply_prove(ts, a, p);
			break;
		case CTX_CONFIRMED_HOST:
			apply_confirm(ts, a);
			break;
		case CTX_NODE:
			apply_node(ts, a, p, flag);
			break;
		case CTX_ATTEMPT:
			apply_attempt(ts, a, b, port_to_count(p), flag);
			break;
		}
	}
