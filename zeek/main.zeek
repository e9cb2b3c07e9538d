##! Legacy peer-to-peer Skype (1.x-7.x) detection: the skype.log stream, the package's
##! options and the per-connection state the stage scripts fill in.
##!
##! The Python engine (``skypewatch analyze``) is the executable specification of every
##! decision made here; the btest baselines are its output.

@load base/frameworks/notice
@load base/protocols/conn/removal-hooks
@load base/utils/site

module Skype;

export {
	## The skype.log stream.
	redef enum Log::ID += { LOG };

	## A default logging policy hook for the stream.
	global log_policy: Log::PolicyHook;

	## One skype.log line: a connection in which a Skype signature fired, written when the
	## connection ends.
	type Info: record {
		## Time of the connection's first packet.
		ts: time &log;
		## Unique ID of the connection.
		uid: string &log;
		## The connection's endpoints.
		id: conn_id &log;
		## Transport protocol of the connection.
		proto: transport_proto &log;
		## How long the connection lasted.
		duration: interval &log;
		## The start-up stage: probe, sn_handshake, login, version_check or media.
		stage: string &log;
		## Names of the signatures that fired.
		signatures: set[string] &log;
		## The host running Skype.
		client: addr &log;
		## The other end of the connection.
		peer: addr &log;
		## What the peer is to the client: super_node, login_server, peer or
		## update_server.
		peer_role: string &log;
		## The client's public address, as a super node reported it inside a U2 reply.
		client_public_ip: addr &log &optional;
		## Skype version announced by the HTTP version check.
		skype_version: string &log &optional;
		## confirmed, likely or possible.
		confidence: string &log;
		## A short human-readable reason.
		evidence: string &log;
		## Whether the responder sent payload.  A start-up of which nothing was answered
		## was blocked (:zeek:see:`Skype::Blocked_Startup`).
		answered: bool &log;
	};

	## Event that can be handled to access the skype.log record as it is sent to the
	## logging framework.
	global log_skype: event(rec: Info);

	## UDP datagrams kept per direction of a connection (within Zeek's signature window of
	## :zeek:see:`dpd_buffer_size` bytes and :zeek:see:`dpd_max_packets` packets).
	option max_datagrams: count = 8;

	## How long after a UDP probe a TCP connection from the same client to the same peer
	## counts as its follow-up (docs/signatures.md#tcp_to_probed_peer).
	option probe_tcp_window: interval = 60sec;

	## The time over which one UDP port's distinct probe destinations are counted.
	option fanout_window: interval = 60sec;

	## Distinct destinations of U1-shaped datagrams from one UDP port that make a fan-out.
	option fanout_min_peers: count = 5;

	## Share of a port's new flows that must open U1-shaped for a fan-out (uTP and DHT
	## fan out too, but stay far below this).
	option fanout_min_share: double = 0.8;

	## How long a proven Skype endpoint or a confirmed host is remembered after last use.
	option endpoint_idle: interval = 1hr;

	## Upper bound on entries in each host-level table.  When one is full, an entry of a
	## host with weak evidence only makes room (:zeek:see:`Skype::evicted_entries`); a
	## newcomer with nothing better is not stored (:zeek:see:`Skype::dropped_entries`),
	## and evidence that cannot be kept is a weird (:zeek:see:`Skype::lost_entries`).
	option max_entries: count = 200000;

	## UDP ports whose protocols put 0x02 at byte 2 by design or echo bytes 0-1 (DNS,
	## NTP, NetBIOS, SNMP, CLDAP, battle.net, mDNS, LLMNR, Omron FINS): a datagram to or
	## from them is never a lone probe.
	option excluded_ports: set[count] = {
		53,
		123,
		137,
		161,
		162,
		389,
		1119,
		5353,
		5355,
		9600,
	};

	## Longest evidence text written to skype.log.
	option max_evidence: count = 400;

	## Prefix of every topic the package publishes on or subscribes to.
	option topic_prefix = "zeek/skype/";

	## Whether probe, TCP-session and detection events are published on
	## :zeek:see:`Skype::topic_prefix` for outside clients such as the skypewatch
	## correlator.  Off by default, since every probe would cost a publish;
	## ``skypewatch/websocket`` turns it on, and so must a cluster whose manager serves the
	## correlator (``redef Skype::publish_events = T;`` in local.zeek).
	option publish_events = F;
}

## Per-connection state, created only for connections that a Skype trigger matched.
## Each stage script adds the fields it needs (``redef record State += { ... }``).
type State: record {
	## A strong signature already proved this connection's endpoints.
	strong_checked: bool &default=F;
};

## The start-up stages a hit can belong to, in precedence order: a connection takes the
## latest stage among its hits (docs/signatures.md#strengths-and-confidence).
type Stage: enum {
	PROBE,
	MEDIA,
	VERSION_CHECK,
	SN_HANDSHAKE,
	LOGIN,
};

## How much a hit alone says; weak hits never make a skype.log line on their own.
type Strength: enum {
	WEAK,
	POSSIBLE,
	LIKELY,
	CONFIRMED,
};

## Stage names as skype.log writes them.
const stage_names: table[Stage] of string = {
	[PROBE] = "probe",
	[MEDIA] = "media",
	[VERSION_CHECK] = "version_check",
	[SN_HANDSHAKE] = "sn_handshake",
	[LOGIN] = "login",
};

## What a signature reports.
type Hit: record {
	name: string;
	stage: Stage;
	strength: Strength;
	evidence: string;
	client_public_ip: addr &optional;
	skype_version: string &optional;
};

redef record connection += {
	## The connection's skype.log record, set when its verdict is final (before logging),
	## for scripts that handle connection_state_remove below priority -3.  Connections
	## still open at the end of input are judged later, at zeek_done (oldest first), and
	## so are verdicts a cluster worker holds: theirs is set then.
	skype: Info &optional;
	skype_state: State &optional;
	## Set on UDP connections whose first datagram is no Skype message.
	skype_skip: bool &optional;
};

## Writes the connection's skype.log line, if any (see verdict.zeek).
global finalize_skype: Conn::RemovalHook;

## The connection's state, created (and its removal hook registered) on first use.
function state_for(c: connection): State
	{
	if ( ! c?$skype_state )
		{
		c$skype_state = State();
		Conn::register_removal_hook(c, finalize_skype);
		}
	return c$skype_state;
	}

event zeek_init() &priority=5
	{
	Log::create_stream(Skype::LOG, Log::Stream($columns=Info, $ev=log_skype,
	    $path="skype", $policy=log_policy));
	}
