##! bench_zeek.py --cluster: a manager and two workers, each worker reading its half of a
##! capture (split per connection) as fast as it can.  Workers wait until the manager has
##! both, and stop when both are through; every node then writes the cluster events it
##! published and received, by handler (Zeek's cluster telemetry), to cluster-events.tsv.

@load base/frameworks/cluster
@load base/frameworks/telemetry
@load base/misc/version

@if ( Version::at_least("8.1") )
@load frameworks/cluster/backend/broker
@endif

module ClusterBench;

export {
	global go: event();
	global worker_done: event(node: string);
	global stop: event();
}

redef Cluster::Telemetry::core_metrics += {Cluster::Telemetry::VERBOSE};
redef Log::default_rotation_interval = 0secs;
redef exit_only_after_terminate = T;
redef Broker::disable_ssl = T;

global workers_up: set[string];
global workers_done: set[string];
global workers_down: set[string];

event zeek_done()
	{
	local f = open("cluster-events.tsv");
	for ( _, name in vector("cluster_core_verbose_outgoing_events",
	    "cluster_core_verbose_incoming_events") )
		{
		for ( _, m in Telemetry::collect_metrics("zeek", name) )
			{
			local labels: table[string] of string = table();
			for ( i, label in m$label_names )
				labels[label] = m$label_values[i];
			print f, fmt("%s %s %s %s %.0f", Cluster::node, /outgoing/ in name ?
			    "out" : "in", labels["handler"], labels["topic"],
			    m$value);
			}
		}
	close(f);
	}

@if ( Cluster::local_node_type() == Cluster::WORKER )
event zeek_init()
	{
	suspend_processing();
	}

event ClusterBench::go()
	{
	continue_processing();
	}

event Pcap::file_done(path: string)
	{
	Cluster::publish(Cluster::manager_topic, ClusterBench::worker_done,
	    Cluster::node);
	}

event ClusterBench::stop()
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
		Cluster::publish(Cluster::worker_topic, ClusterBench::go);
	}

event ClusterBench::worker_done(node: string)
	{
	add workers_done[node];
	if ( |workers_done| == 2 )
		Cluster::publish(Cluster::worker_topic, ClusterBench::stop);
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
