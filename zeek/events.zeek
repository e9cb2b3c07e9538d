##! The package's event contract with the outside world (the Python correlator, or any
##! WebSocket client of Zeek's cluster API).  All arguments are flat primitives.
##!
##! Published by Zeek, on topics under :zeek:see:`Skype::topic_prefix`:
##!   ``probe``      Skype::probe_seen: a U1-shaped datagram opened a UDP flow;
##!   ``tcp``        Skype::tcp_session_seen: TCP to a probed peer or proven Skype port;
##!   ``detection``  Skype::detection: one skype.log line.
##! Handled by Zeek, on ``topic_prefix + "notice"``:
##!   Skype::correlated_notice: a correlated finding to raise as a NOTICE.

@load ./main
@load ./udp_probe
@load ./sn_handshake

module Skype;

export {
	## One skype.log line, as flat arguments.  *signatures* is comma-separated;
	## *client_public_ip* and *skype_version* are empty when unknown; *duration* is in
	## seconds.  Workers send it to the manager, which correlates it (notices.zeek), and
	## with :zeek:see:`Skype::publish_events` every node publishes it for outside clients.
	global detection: event(ts: time, uid: string, orig_h: addr, orig_p: port,
	    resp_h: addr, resp_p: port, proto: string, duration: double,
	    stage: string, signatures: string, client: addr, peer: addr,
	    peer_role: string, client_public_ip: string, skype_version: string,
	    confidence: string, evidence: string, answered: bool);

	## A finding from the Python correlator, raised as a NOTICE by notices.zeek.  *note* is
	## a notice type's name such as ``Skype::Client_Detected``.
	global correlated_notice: event(ts: time, note: string, client: addr,
	    msg: string, sub: string, n: count, uid: string) &is_used;

	## Sends one skype.log record to the correlation (local or the manager) and, with
	## :zeek:see:`Skype::publish_events`, to outside clients.
	global publish_detection: function(info: Info);
}

## Host-level correlation of one record (notices.zeek); standalone nodes and the manager.
global correlate: function(info: Info);

function detection_event(info: Info): Cluster::Event
	{
	local sigs: vector of string = vector();
	for ( name in info$signatures )
		sigs += name;
	sort(sigs, strcmp);
	local public_ip = info?$client_public_ip ? cat(info$client_public_ip) : "";
	local version = info?$skype_version ? info$skype_version : "";
	return Cluster::make_event(Skype::detection, info$ts, info$uid, info$id$orig_h,
	    info$id$orig_p, info$id$resp_h, info$id$resp_p, cat(info$proto),
	    interval_to_double(info$duration), info$stage, join_string_vec(sigs,
	    ","), info$client, info$peer, info$peer_role, public_ip, version,
	    info$confidence, info$evidence, info$answered);
	}

function publish_detection(info: Info)
	{
	if ( Cluster::is_enabled() && Cluster::local_node_type() != Cluster::MANAGER )
		Cluster::publish(Cluster::manager_topic, detection_event(info));
	else
		correlate(info);

	if ( publish_events )
		Cluster::publish(topic_prefix + "detection", detection_event(info));
	}

event Skype::probe_seen(ts: time, uid: string, client: addr, client_port: port,
    peer: addr, peer_port: port)
	{
	if ( publish_events )
		Cluster::publish(topic_prefix + "probe", Skype::probe_seen, ts, uid, client,
		    client_port, peer, peer_port);
	}

event Skype::tcp_session_seen(ts: time, uid: string, client: addr,
    client_port: port, peer: addr, peer_port: port, probed: bool)
	{
	if ( publish_events )
		Cluster::publish(topic_prefix + "tcp", Skype::tcp_session_seen, ts, uid,
		    client, client_port, peer, peer_port, probed);
	}

event zeek_init()
	{
	if ( ! Cluster::is_enabled()
	    || Cluster::local_node_type() == Cluster::MANAGER )
		Cluster::subscribe(topic_prefix + "notice");
	}
