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

@load ./main
@load ./context

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

## Type nibbles (``p[2] & 0x0F``) that open an inspected UDP connection.
const gate_nibbles: set[count] = {
	0x2,
	0x3,
	0x5,
	0x7,
	0xD,
	0xF
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

function byte_at(s: string, i: count): count
	{
	return bytestring_to_count(s[i]);
	}

function is_u1(p: string): bool
	{
	return |p| >= u1_min && ( byte_at(p, 2) & 0x8F ) == 0x02;
	}

function u1_shaped(p: string, sport: port, dport: port): bool
	{
	if ( |p| < u1_min || |p| > lone_u1_max || ( byte_at(p, 2) & 0x8F ) != 0x02 )
		return F;
	if ( port_to_count(sport) in excluded_ports
	    || port_to_count(dport) in excluded_ports )
		return F;

	# BER/ASN.1 (SNMP, CLDAP) and Omron FINS put 0x02 at byte 2 by construction.
	local head = p[0:3];
	return byte_at(p, 0) != 0x30
	    && head != "\x80\x00\x02"
	    && head != "\xc0\x00\x02";
	}

function is_u2_for(u1: string, p: string): bool
	{
	local t = byte_at(p, 2) & 0x0F;
	return |p| == u2_len && p[0:2] == u1[0:2] && ( t == 0x07 || t == 0x05 );
	}

function hexstr(s: string): string
	{
	return bytestring_to_hexstr(s);
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
		    || ( byte_at(p, 2) & 0x0F ) != 0x03 )
			{
			++k;
			next;
			}
		if ( ! resp_v4 || raw_bytes_to_v4_addr(p[8:12]) != c$id$resp_h )
			{
			++k;
			next;
			}

		local extras: vector of string = vector();
		if ( byte_at(p, 3) == 0x01 )
			extras += "cookie 0x01";
		if ( p[4:8] == u2[7:11] )
			extras += "challenge echoed";
		if ( p[12:16] == u1[7:11] )
			extras += "U1 CRC repeated";
		local detail = |extras| > 0 ? fmt(" (%s)", join_string_vec(extras, ", ")) : "";
		hits += Hit($name="u3_resend", $stage="probe", $strength=3, $evidence=fmt(
		    "U3 %dB = U1 + 5 with same id names super node %s%s", |p|,
		    raw_bytes_to_v4_addr(p[8:12]), detail));

		local m = k + 1;
		while ( m < |d| )
			{
			local r = d[m]$data;
			if ( d[m]$ts - t > reply_window )
				break;
			if ( ! d[m]$is_orig && |r| >= u1_min && ( byte_at(r, 2) & 0x8F ) == 0x02 )
				{
				local sizes = ( |r| == 18 || |r| == 51 || |r| == 53 ) ? "a Skype 1.4 size" :
				    "a 2.x+ size";
				hits += Hit($name="u4_reply", $stage="probe", $strength=2, $evidence=fmt(
				    "U4 type-2 reply of %dB (%s)", |r|, sizes));
				break;
				}
			++m;
			}
		break;
		}
	return hits;
	}

## SKU-4: an unanswered U1 sent again with the same id, length and CRC but a new IV.
function retransmit_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local seen_ts: table[string] of time = table();
	local seen_iv: table[string] of string = table();
	local d = c$skype_state$dgrams;
	for ( i in d )
		{
		local p = d[i]$data;
		if ( ! d[i]$is_orig || ! is_u1(p) )
			next;
		local key = p[0:3] + p[7:11] + cat(|p|);
		if ( key in seen_ts )
			{
			local gap = d[i]$ts - seen_ts[key];
			if ( seen_iv[key] != p[3:7]
			    && gap >= retransmit_min_gap
			    && gap <= retransmit_max_gap )
				{
				hits += Hit($name="probe_retransmit", $stage="probe", $strength=2,
				    $evidence=fmt("U1 %dB id 0x%s resent after %.1fs with the same CRC %s and a new IV",
				    |p|, hexstr(p[0:2]), interval_to_double(
				    gap), hexstr(p[7:11])));
				return hits;
				}
			}
		seen_ts[key] = d[i]$ts;
		seen_iv[key] = p[3:7];
		}
	return hits;
	}

## All probe-stage hits in the connection's datagrams.
function probe_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local d = c$skype_state$dgrams;
	local orig_v4 = is_v4_addr(c$id$orig_h);
	local nack_done = F;
	local i = 0;
	while ( i < |d| && ! nack_done )
		{
		local u1 = d[i]$data;
		if ( ! d[i]$is_orig || ! is_u1(u1) )
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
			if ( d[j]$is_orig || ! is_u2_for(u1, u2) )
				{
				++j;
				next;
				}
			nack_done = T;
			local public_ip = raw_bytes_to_v4_addr(u2[3:7]);
			hits += Hit($name="u1_u2_nack", $stage="probe", $strength=2, $evidence=fmt("U1 %dB id 0x%s answered by 11B NACK type 0x%x echoing the id, naming public IP %s",
			    |u1|, hexstr(u1[0:2]), byte_at(u2, 2) & 0x0F,
			    public_ip), $client_public_ip=public_ip);
			if ( orig_v4 && public_ip == c$id$orig_h )
				hits += Hit($name="u2_public_ip", $stage="probe", $strength=3,
				    $evidence=fmt(
				    "U2 carries the client's own address %s",
				    public_ip), $client_public_ip=public_ip);
			for ( _, h in u3_u4_hits(c, u1, u2, d[j]$ts, j) )
				hits += h;
			break;
			}
		++i;
		}
	for ( _, h in retransmit_hits(c) )
		hits += h;
	return hits;
	}

## SKU-5, SKU-6: single-datagram shapes that only count next to host evidence.
function weak_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local d = c$skype_state$dgrams;
	local o = "";
	local r = "";
	local have_o = F;
	local have_r = F;
	for ( i in d )
		{
		if ( d[i]$is_orig && ! have_o )
			{
			o = d[i]$data;
			have_o = T;
			}
		if ( ! d[i]$is_orig && ! have_r )
			{
			r = d[i]$data;
			have_r = T;
			}
		}
	if ( ! have_o || ! u1_shaped(o, c$id$orig_p, c$id$resp_p) )
		return hits;
	if ( have_r && |r| >= u1_min && ( byte_at(r, 2) & 0x8F ) == 0x02 )
		hits += Hit($name="type2_exchange", $stage="probe", $strength=0,
		    $evidence=fmt("type-2 %dB answered by type-2 %dB", |o|, |r|));
	else if ( ! have_r )
		hits += Hit($name="lone_u1", $stage="probe", $strength=0, $evidence=fmt(
		    "unanswered U1-shaped %dB datagram", |o|));
	return hits;
	}

## The skype-udp signature's eval: keep the datagram if the connection is inspected.
## Returning T ends the calls for this direction of the connection.
function udp_datagram(state: signature_state, data: string): bool
	{
	local c = state$conn;
	if ( c?$skype_skip )
		return T;

	local is_orig = state$is_orig;
	local first = ! c?$skype_state;
	if ( first && ( |data| < 3 || ( byte_at(data, 2) & 0x0F ) !in gate_nibbles ) )
		{
		c$skype_skip = T;
		return T;
		}

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
	s$dgrams += Datagram($is_orig=is_orig, $ts=now, $data=data);

	if ( first && is_orig )
		{
		local shaped = u1_shaped(data, c$id$orig_p, c$id$resp_p);
		if ( shaped )
			{
			note_probe(now, c$id$orig_h, c$id$resp_h, c$id$resp_p);
			event Skype::probe_seen(now, c$uid, c$id$orig_h, c$id$orig_p, c$id$resp_h,
			    c$id$resp_p);
			}
		note_new_flow(now, c$id$orig_h, c$id$orig_p, c$id$resp_h, shaped);
		}

	# Only a datagram that can complete a strong pattern is worth a check: an 11-byte
	# reply (U2) or another type-2 datagram from the originator (U3, retransmission).
	if ( ! s$strong_checked
	    && |s$dgrams| >= 2
	    && ( ( ! is_orig && |data| == u2_len ) || ( is_orig && |data| >= u1_min ) ) )
		{
		local strong = F;
		local confirmed_hit = F;
		for ( _, h in probe_hits(c) )
			{
			if ( h$name in strong_udp_hits )
				strong = T;
			if ( h$strength == 3 )
				confirmed_hit = T;
			}
		if ( strong )
			{
			s$strong_checked = T;
			prove_endpoint(now, c$id$orig_h, c$id$orig_p);
			prove_endpoint(now, c$id$resp_h, c$id$resp_p);
			if ( confirmed_hit )
				confirm_host(now, c$id$orig_h);
			}
		}

	return s$n_orig >= max_datagrams && s$n_resp >= max_datagrams;
	}
