##! Test harness: two workers replay their halves of a capture in step, as a live cluster
##! behind a flow load balancer would see it, and the run ends the way a capture does.
##!
##! Workers wait until the manager has both of them, then read in pseudo-realtime.  When
##! both are through, the manager lets the host context they shared settle, then stops
##! them; each judges its open connections at shutdown (as a standalone Zeek does at the
##! end of a capture) and the manager, once both are down, raises the notices still due.
##!
##! With LOCKSTEP_STEP set (seconds of capture time), workers read at full speed instead,
##! on the capture's own clock, and stop at every step until the manager has heard from
##! both: within a step they race each other, as workers on one clock do, and whatever one
##! shared in a step has reached the other before the next.  pseudo-realtime cannot give
##! that: each worker's clock starts at its own first packet, so events microseconds apart
##! on two workers land in either order.  A worker stops after the first packet past its
##! step (a packet's events run after the packet), so the capture must not have long gaps.
##! LOCKSTEP_LEAD (seconds) lets worker-1 run that far ahead of worker-2, as a worker that
##! falls behind does.

@load base/frameworks/cluster
@load base/misc/version

# 8.1+ needs a cluster backend named; the layout's ports are Broker's.
@if ( Version::at_least("8.1") )
@load frameworks/cluster/backend/broker
@endif

module ClusterReplay;

export {
	global go: event(step: count);
	global reached: event(node: string, step: count);
	global worker_done: event(node: string);
	global stop: event();
}

function env_double(name: string): double
	{
	local v = getenv(name);
	return v == "" ? 0.0 : to_double(v);
	}

const lockstep_step = env_double("LOCKSTEP_STEP");
const lockstep_lead = env_double("LOCKSTEP_LEAD");

redef Log::default_rotation_interval = 0secs;

# Which node wrote a skype.log line, so that unshift-cluster-times can undo its
# pseudo-realtime shift.
redef record Skype::Info += {
	node: string &log &optional;
};

hook Skype::log_policy(rec: Skype::Info, id: Log::ID, filter: Log::Filter)
	{
	rec$node = Cluster::node;
	}
redef exit_only_after_terminate = T;
redef Broker::disable_ssl = T;

global workers_up: set[string];
global workers_done: set[string];
global workers_down: set[string];

@if ( Cluster::local_node_type() == Cluster::WORKER )
# Lockstep: how far this worker may read, and whether it stopped there.
global granted = 0;
global first_ts = 0.0;
global paused = T;

event zeek_init()
	{
	suspend_processing();
	}

event ClusterReplay::go(step: count)
	{
	granted = step;
	if ( paused )
		{
		paused = F;
		continue_processing();
		}
	}

event raw_packet(p: raw_pkt_hdr)
	{
	if ( lockstep_step == 0.0 || paused )
		return;
	local now = time_to_double(network_time());
	if ( first_ts == 0.0 )
		first_ts = now;
	local lead = Cluster::node == "worker-1" ? lockstep_lead : 0.0;
	if ( now < first_ts + granted * lockstep_step + lead )
		return;
	paused = T;
	suspend_processing();
	# The step it is in: past the one granted where the capture has a gap.
	local at = double_to_count(floor(( now - first_ts - lead ) / lockstep_step));
	Cluster::publish(Cluster::manager_topic, ClusterReplay::reached, Cluster::node, at);
	}

event network_time_init()
	{
	local f = open("first-time");
	print f, fmt("%.6f", network_time());
	close(f);
	}

event Pcap::file_done(path: string)
	{
	Cluster::publish(Cluster::manager_topic, ClusterReplay::worker_done, Cluster::node);
	}

event ClusterReplay::stop()
	{
	terminate();
	}
@endif

@if ( Cluster::local_node_type() == Cluster::MANAGER )
# Lockstep: the step every worker may read to, and the step each stopped at.
global granted = 0;
global stopped_at: table[string] of count;

# The next step, once every worker still reading has stopped at this one (past a gap that
# all of them are past, straight to its end).
function grant()
	{
	local least = 0;
	local first = T;
	for ( w in workers_up )
		{
		if ( w in workers_done )
			next;
		if ( w !in stopped_at || stopped_at[w] < granted )
			return;
		if ( first || stopped_at[w] < least )
			least = stopped_at[w];
		first = F;
		}
	granted = least + 1 > granted + 1 ? least + 1 : granted + 1;
	Cluster::publish(Cluster::worker_topic, ClusterReplay::go, granted);
	}

event Cluster::node_up(name: string, id: string)
	{
	if ( /worker/ !in name )
		return;
	add workers_up[name];
	if ( |workers_up| == 2 )
		{
		granted = 1;
		Cluster::publish(Cluster::worker_topic, ClusterReplay::go, granted);
		}
	}

event ClusterReplay::reached(node: string, step: count)
	{
	stopped_at[node] = step;
	grant();
	}

event ClusterReplay::worker_done(node: string)
	{
	add workers_done[node];
	if ( |workers_done| == 2 )
		Cluster::publish(Cluster::worker_topic, ClusterReplay::stop);
	else if ( lockstep_step > 0.0 )
		grant();
	}

# Every node_draining the manager receives, one line each: run-cluster requires exactly one
# per worker (a duplicated handler once made every worker send it twice).
event Skype::node_draining(node: string)
	{
	local f = open_for_append("draining.txt");
	print f, node;
	close(f);
	}

event Cluster::node_down(name: string, id: string)
	{
	if ( /worker/ !in name )
		return;
	add workers_down[name];
	if ( |workers_down| == 2 )
		terminate();
	}
@endif

@if ( Cluster::local_node_type() == Cluster::PROXY )
event Cluster::node_down(name: string, id: string)
	{
	if ( name == "manager" )
		terminate();
	}

# On a tiny capture the manager can be done before the proxy's first connection retry:
# the proxy then never sees it go down.  A proxy that never met the manager gives up.
global manager_met = F;

event Cluster::node_up(name: string, id: string)
	{
	if ( name == "manager" )
		manager_met = T;
	}

event proxy_watchdog()
	{
	if ( ! manager_met )
		terminate();
	}

event zeek_init()
	{
	schedule 30sec { proxy_watchdog() };
	}
@endif
