##! Stage 1: the UDP probe from a Skype client to super nodes (U1-U4).
##!
##! Message layouts (0-based offsets; the type is ``p[2] & 0x8F``, bits 0x70 random):
##!   U1  ID(2) type 0x?2 IV(4) CRC(4) body, at least 18 bytes (18 in Skype 1.4)
##!   U2  ID(2, echo) type 0x?7 or 0x?5, client public IPv4(4), challenge(4): 11 bytes
##!   U3  ID(2, echo) type 0x?3 0x01 challenge(4) super node IPv4(4) CRC(4) body: U1 + 5
##!   U4  type 0x?2 reply, 18/51/53 bytes in 1.4
##!
##! The skype-udp signature hands this script the datagrams of Zeek's signature window.
##! A connection whose first datagram carries no Skype type costs one call and no state.
##! Of an inspected one, only what a signature can still use is kept: the datagrams from
##! the first U1 on (U2-U4 and retransmissions follow a U1), the shape of the first
##! datagram each way, and running counts for the call framings (media.zeek).

@load ./main
@load ./context
@load ./media

module Skype;

export {
	## Published on ``topic_prefix + "probe"`` when a client sends a U1-shaped datagram
	## that opens a UDP flow (see events.zeek).
	global probe_seen: event(ts: time, uid: string, client: addr,
	    client_port: port, peer: addr, peer_port: port);

	## Eval of the skype-udp signature: keeps the connection's datagrams while it is
	## inspected; returning T ends the calls for that direction of the connection.
	global udp_datagram: function(state: signature_state, data: string): bool
	    &is_used;
}

## One UDP payload kept for the probe signatures, with its type byte (``p[2] & 0x8F``).
type Datagram: record {
	is_orig: bool;
	ts: time;
	data: string;
	t: count;
};

redef record State += {
	## Datagrams of the window from the first U1 on.
	dgrams: vector of Datagram &default=vector();
	## Datagrams of the window so far, each way.
	n_orig: count &default=0;
	n_resp: count &default=0;
	## The first datagram of the flow has a Skype message type.
	first_framed: bool &default=F;
	## The first datagram from the originator looks like a U1 (docs/signatures.md#lone_u1-and-type2_exchange).
	first_orig_shaped: bool &default=F;
	first_orig_len: count &default=0;
	## The first datagram from the responder: 0 none yet, 1 a type-2 of U1 size, 2 other.
	first_resp_kind: count &default=0;
	first_resp_len: count &default=0;
	## A datagram that can complete U1+U2 or a retransmission was seen.
	strong_candidate: bool &default=F;
};

## Type nibbles (``p[2] & 0x0F``) that open an inspected UDP connection.
const gate_nibbles: set[count] = {
	0x2,
	0x3,
	0x5,
	0x7,
	0xD,
	0xF
};

## The bytes (as one-byte strings) whose low nibble is one of :zeek:see:`Skype::gate_nibbles`.
function gate_byte_set(): set[string]
	{
	local bytes: set[string] = set();
	local i = 0;
	while ( i < 256 )
		{
		if ( ( i & 0x0F ) in gate_nibbles )
			add bytes[hexstr_to_bytestring(fmt("%02x", i))];
		++i;
		}
	return bytes;
	}

## Byte 2 of a first datagram that opens an inspected UDP connection.
const gate_bytes: set[string] = gate_byte_set();

## ``p[2] & 0x8F`` values of the Skype UDP messages (docs/signatures.md#message-layouts).
const known_udp_types: set[count] = {
	0x02,
	0x03,
	0x05,
	0x07,
	0x0D,
	0x0F
};

## Hits that prove both endpoints speak Skype.
const strong_udp_hits: set[string] = {
	"u1_u2_nack",
	"u2_public_ip",
	"u3_resend",
	"probe_retransmit",
};

const u1_min = 18;
const u2_len = 11;
const lone_u1_max = 140;
const reply_window = 5sec;
const u3_window = 2sec;
const retransmit_min_gap = 0.5sec;
const retransmit_max_gap = 15sec;

## ``p[2] & 0x8F`` of a datagram of at least 3 bytes, else 0.
function ptype(p: string): count
	{
	return |p| >= 3 ? bytestring_to_count(p[2]) & 0x8F : 0;
	}

function u1_shaped(p: string, t: count, sport: port, dport: port): bool
	{
	if ( |p| < u1_min || |p| > lone_u1_max || t != 0x02 )
		return F;
	if ( port_to_count(sport) in excluded_ports
	    || port_to_count(dport) in excluded_ports )
		return F;

	# BER/ASN.1 (SNMP, CLDAP) and Omron FINS put 0x02 at byte 2 by construction.
	local head = p[0:3];
	return p[0] != "\x30" && head != "\x80\x00\x02" && head != "\xc0\x00\x02";
	}

function is_u2_for(u1: string, p: string, t: count): bool
	{
	local n = t & 0x0F;
	return |p| == u2_len && p[0:2] == u1[0:2] && ( n == 0x07 || n == 0x05 );
	}

## U3 and U4 after the U2 at index *j*.
function u3_u4_hits(c: connection, u1: string, u2: string, t_u2: time, j: count)
    : vector of Hit
	{
	local hits: vector of Hit = vector();
	local d = c$skype_state$dgrams;
	local resp_v4 = is_v4_addr(c$id$resp_h);
	local k = j + 1;
	while ( k < |d| )
		{
		local p = d[k]$data;
		local t = d[k]$ts;
		if ( t - t_u2 > u3_window )
			break;
		if ( ! d[k]$is_orig
		    || |p| != |u1| + 5
		    || p[0:2] != u1[0:2]
		    || ( d[k]$t & 0x0F ) != 0x03
		    || ! resp_v4
		    || raw_bytes_to_v4_addr(p[8:12]) != c$id$resp_h )
			{
			++k;
			next;
			}

		local extras: vector of string = vector();
		if ( p[3] == "\x01" )
			extras += "cookie 0x01";
		if ( p[4:8] == u2[7:11] )
			extras += "challenge echoed";
		if ( p[12:16] == u1[7:11] )
			extras += "U1 CRC repeated";
		local detail = |extras| > 0 ? fmt(" (%s)", join_string_vec(extras, ", ")) : "";
		hits += Hit($name="u3_resend", $stage=PROBE, $strength=CONFIRMED,
		    $evidence=fmt(
		    "U3 %dB = U1 + 5 with same id names super node %s%s", |p|,
		    raw_bytes_to_v4_addr(p[8:12]), detail));

		local m = k + 1;
		while ( m < |d| )
			{
			local r = d[m]$data;
			if ( d[m]$ts - t > reply_window )
				break;
			if ( ! d[m]$is_orig && |r| >= u1_min && d[m]$t == 0x02 )
				{
				local sizes = ( |r| == 18 || |r| == 51 || |r| == 53 ) ? "a Skype 1.4 size" :
				    "a 2.x+ size";
				hits += Hit($name="u4_reply", $stage=PROBE, $strength=LIKELY, $evidence=fmt(
				    "U4 type-2 reply of %dB (%s)", |r|, sizes));
				break;
				}
			++m;
			}
		break;
		}
	return hits;
	}

## docs/signatures.md#probe_retransmit: an unanswered U1 sent again with the same id, length and CRC but a new IV.
function retransmit_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local seen_ts: table[string] of time = table();
	local seen_iv: table[string] of string = table();
	for ( _, dg in c$skype_state$dgrams )
		{
		local p = dg$data;
		if ( ! dg$is_orig || dg$t != 0x02 || |p| < u1_min )
			next;
		local key = p[0:3] + p[7:11] + cat(|p|);
		if ( key in seen_ts )
			{
			local gap = dg$ts - seen_ts[key];
			if ( seen_iv[key] != p[3:7]
			    && gap >= retransmit_min_gap
			    && gap <= retransmit_max_gap )
				{
				hits += Hit($name="probe_retransmit", $stage=PROBE, $strength=LIKELY,
				    $evidence=fmt("U1 %dB id 0x%s resent after %.1fs with the same CRC %s and a new IV",
				    |p|, bytestring_to_hexstr(p[0:2]),
				    interval_to_double(gap),
				    bytestring_to_hexstr(p[7:11])));
				return hits;
				}
			}
		seen_ts[key] = dg$ts;
		seen_iv[key] = p[3:7];
		}
	return hits;
	}

## All probe-stage hits in the connection's datagrams.
function probe_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local d = c$skype_state$dgrams;
	# Every probe pattern pairs two datagrams; a lone U1 (most probes) needs no look.
	if ( |d| < 2 )
		return hits;
	local i = 0;
	while ( i < |d| )
		{
		local u1 = d[i]$data;
		if ( ! d[i]$is_orig || d[i]$t != 0x02 || |u1| < u1_min )
			{
			++i;
			next;
			}
		local j = i + 1;
		while ( j < |d| )
			{
			local u2 = d[j]$data;
			if ( d[j]$ts - d[i]$ts > reply_window )
				break;
			if ( d[j]$is_orig || ! is_u2_for(u1, u2, d[j]$t) )
				{
				++j;
				next;
				}
			local public_ip = raw_bytes_to_v4_addr(u2[3:7]);
			hits += Hit($name="u1_u2_nack", $stage=PROBE, $strength=LIKELY,
			    $evidence=fmt("U1 %dB id 0x%s answered by 11B NACK type 0x%x echoing the id, naming public IP %s",
			    |u1|, bytestring_to_hexstr(u1[0:2]), d[j]$t & 0x0F,
			    public_ip), $client_public_ip=public_ip);
			if ( is_v4_addr(c$id$orig_h) && public_ip == c$id$orig_h )
				hits += Hit($name="u2_public_ip", $stage=PROBE, $strength=CONFIRMED,
				    $evidence=fmt(
				    "U2 carries the client's own address %s",
				    public_ip), $client_public_ip=public_ip);
			for ( _, h in u3_u4_hits(c, u1, u2, d[j]$ts, j) )
				hits += h;
			i = |d|; # one NACK is enough
			break;
			}
		++i;
		}
	for ( _, h in retransmit_hits(c) )
		hits += h;
	return hits;
	}

## docs/signatures.md#lone_u1-and-type2_exchange: single-datagram shapes that only count next to host evidence.
function weak_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	if ( ! s$first_orig_shaped )
		return hits;
	if ( s$first_resp_kind == 1 )
		hits += Hit($name="type2_exchange", $stage=PROBE, $strength=WEAK,
		    $evidence=fmt("type-2 %dB answered by type-2 %dB",
		    s$first_orig_len, s$first_resp_len));
	else if ( s$first_resp_kind == 0 )
		hits += Hit($name="lone_u1", $stage=PROBE, $strength=WEAK, $evidence=fmt(
		    "unanswered U1-shaped %dB datagram", s$first_orig_len));
	return hits;
	}

## Could this datagram complete a strong pattern?  A NACK-shaped reply, or a U1 that
## repeats the id of an earlier one (a retransmission).
function completes_strong(s: State, is_orig: bool, data: string, t: count): bool
	{
	if ( ! is_orig )
		return |data| == u2_len && ( ( t & 0x0F ) == 0x07 || ( t & 0x0F ) == 0x05 );
	if ( t != 0x02 || |data| < u1_min )
		return F;
	local id = data[0:2];
	for ( _, dg in s$dgrams )
		{
		if ( dg$is_orig && dg$t == 0x02 && dg$data[0:2] == id && dg$data != data )
			return T;
		}
	return F;
	}

## The skype-udp signature's eval: keep the datagram if the connection is inspected.
## Returning T ends the calls for this direction of the connection.
function udp_datagram(state: signature_state, data: string): bool
	{
	local c = state$conn;
	if ( c?$skype_skip )
		return T;
	if ( |data| == 0 )
		return F; # an empty datagram: not part of the window

	# The first datagram decides; most flows end here, so this path is one set lookup.
	local first = ! c?$skype_state;
	if ( first && ( |data| < 3 || data[2] !in gate_bytes ) )
		{
		c$skype_skip = T;
		return T;
		}
	local is_orig = state$is_orig;
	local t = ptype(data);

	local s = state_for(c);
	if ( is_orig )
		{
		if ( s$n_orig >= max_datagrams )
			return s$n_resp >= max_datagrams;
		++s$n_orig;
		}
	else
		{
		if ( s$n_resp >= max_datagrams )
			return s$n_orig >= max_datagrams;
		++s$n_resp;
		}
	local now = network_time();
	local shaped = F;
	if ( first )
		s$first_framed = t in known_udp_types;
	if ( is_orig && s$n_orig == 1 )
		{
		shaped = u1_shaped(data, t, c$id$orig_p, c$id$resp_p);
		s$first_orig_shaped = shaped;
		s$first_orig_len = |data|;
		}
	else if ( ! is_orig && s$n_resp == 1 )
		{
		s$first_resp_kind = ( |data| >= u1_min && t == 0x02 ) ? 1 : 2;
		s$first_resp_len = |data|;
		}
	media_sample(s, is_orig, now, data, t);

	# Datagrams before the first U1 can take part in no probe signature.
	if ( |s$dgrams| > 0 || ( is_orig && t == 0x02 && |data| >= u1_min ) )
		{
		if ( ! s$strong_checked && completes_strong(s, is_orig, data, t) )
			s$strong_candidate = T;
		s$dgrams += Datagram($is_orig=is_orig, $ts=now, $data=data, $t=t);
		}

	if ( first && is_orig )
		{
		local ident = bytestring_to_count(data[0:2]);
		if ( shaped )
			{
			note_probe_flow(now, c$id$orig_h, c$id$orig_p, c$id$resp_h, c$id$resp_p,
			    ident);
			if ( publish_events )
				event Skype::probe_seen(now, c$uid, c$id$orig_h, c$id$orig_p, c$id$resp_h,
				    c$id$resp_p);
			}
		else
			note_new_flow(now, c$id$orig_h, c$id$orig_p, c$id$resp_h, ident);
		}

	if ( s$strong_candidate )
		{
		s$strong_candidate = F;
		local strong = F;
		local confirmed_hit = F;
		for ( _, h in probe_hits(c) )
			{
			if ( h$name in strong_udp_hits )
				strong = T;
			if ( h$strength == CONFIRMED )
				confirmed_hit = T;
			}
		if ( strong )
			{
			s$strong_checked = T;
			prove_endpoint(now, c$id$orig_h, c$id$orig_p);
			prove_endpoint(now, c$id$resp_h, c$id$resp_p);
			prove_node(now, c$id$resp_h, c$id$resp_p, F);
			if ( confirmed_hit )
				confirm_host(now, c$id$orig_h);
			}
		}

	return s$n_orig >= max_datagrams && s$n_resp >= max_datagrams;
	}
