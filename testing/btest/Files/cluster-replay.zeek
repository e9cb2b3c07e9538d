##! Test harness: two workers replay their halves of a capture in step, as a live cluster
##! behind a flow load balancer would see it, and the run ends the way a capture does.
##!
##! Workers wait until the manager has both of them, then read in pseudo-realtime.  When
##! both are through, the manager lets the host context they shared settle, then stops
##! them; each judges its open connections at shutdown (as a standalone Zeek does at the
##! end of a capture) and the manager, once both are down, raises the notices still due.

@load base/frameworks/cluster
@load base/misc/version

# 8.1+ needs a cluster backend named; the layout's ports are Broker's.
@if ( Version::at_least("8.1") )
@load frameworks/cluster/backend/broker
@endif

module ClusterReplay;

export {
	global go: event();
	global worker_done: event(node: string);
	global stop: event();
}

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
event zeek_init()
	{
	suspend_processing();
	}

event ClusterReplay::go()
	{
	continue_processing();
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
event Cluster::node_up(name: string, id: string)
	{
	if ( /worker/ !in name )
		return;
	add workers_up[name];
	if ( |workers_up| == 2 )
		Cluster::publish(Cluster::worker_topic, ClusterReplay::go);
	}

event ClusterReplay::worker_done(node: string)
	{
	add workers_done[node];
	if ( |workers_done| == 2 )
		Cluster::publish(Cluster::worker_topic, ClusterReplay::stop);
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
@endif
