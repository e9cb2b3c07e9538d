# A manager, a proxy and two workers on loopback, on the ports btest hands out
# (@TEST-PORT: BROKER_MANAGER_PORT BROKER_PROXY1_PORT BROKER_WORKER1_PORT BROKER_WORKER2_PORT).
# Zeek loads cluster-layout.zeek from the node's directory when CLUSTER_NODE is set.

redef Cluster::manager_is_logger = T;

redef Cluster::nodes = {
	["manager"] = [$node_type=Cluster::MANAGER, $ip=127.0.0.1,
	    $p=to_port(getenv("BROKER_MANAGER_PORT"))],
	["proxy-1"] = [$node_type=Cluster::PROXY, $ip=127.0.0.1,
	    $p=to_port(getenv("BROKER_PROXY1_PORT")), $manager="manager"],
	["worker-1"] = [$node_type=Cluster::WORKER, $ip=127.0.0.1,
	    $p=to_port(getenv("BROKER_WORKER1_PORT")), $manager="manager"],
	["worker-2"] = [$node_type=Cluster::WORKER, $ip=127.0.0.1,
	    $p=to_port(getenv("BROKER_WORKER2_PORT")), $manager="manager"],
};
