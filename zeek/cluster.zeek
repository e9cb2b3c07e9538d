##! Cluster support.  Workers detect per connection; the host context they build (probes,
##! fan-out, proven endpoints, confirmed hosts) is shared through the manager so that a
##! probe seen on one worker explains the TCP connection another worker sees.  The
##! detections themselves go to the manager, which correlates them into notices
##! (events.zeek, notices.zeek).  Loaded only when the cluster framework is enabled.

@load base/frameworks/cluster
@load ./context
@load ./notices

module Skype;

export {
	## A host-context update travelling worker -> manager -> other workers.
	global share_context: event(origin: string, kind: count, ts: time, a: addr,
	    b: addr, p: port, flag: bool) &is_used;

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

event Skype::context_update(kind: count, ts: time, a: addr, b: addr, p: port,
    flag: bool)
	{
	if ( Cluster::local_node_type() == Cluster::WORKER )
		Cluster::publish(Cluster::manager_topic, Skype::share_context, Cluster::node,
		    kind, ts, a, b, p, flag);
	}

event Skype::share_context(origin: string, kind: count, ts: time, a: addr,
    b: addr, p: port, flag: bool)
	{
	if ( Cluster::local_node_type() == Cluster::MANAGER )
		{
		Cluster::publish(Cluster::worker_topic, Skype::share_context, origin, kind, ts, a, b,
		    p, flag);
		return;
		}
	if ( origin == Cluster::node )
		return;

	# Apply without raising context_update again: no echo.
	switch ( kind )
		{
		case 1:
			apply_probe(ts, a, b, p);
			break;
		case 2:
			apply_new_flow(ts, a, p, b, flag);
			break;
		case 3:
			apply_prove(ts, a, p);
			break;
		case 4:
			apply_confirm(ts, a);
			break;
		}
	}
