##! Calls after start-up: end-to-end voice and SkypeOut framing (docs/signatures.md#e2e_voice, #skypeout_e2o; Tstat's
##! rules), decided from the datagrams in the inspection window plus the flow's packet
##! totals.  The window's datagrams are not kept for this: udp_probe.zeek hands each one to
##! media_sample, which keeps the running counts the two rules need.

@load ./main

module Skype;

## Tstat's MIN_SKYPE_E2E_NUM: a call, not a burst.
const media_min_packets = 100;
## Inspected datagrams needed before judging their framing.
const media_min_sample = 8;
## Tstat's MIN_SKYPE_E2E_PERC.
const media_min_share = 0.9;
## Skype's frame ids change from datagram to datagram; RTP keeps the same two bytes.
const media_min_id_change_share = 0.5;
## Voice frames come every ~20 ms.
const frame_gap_min = 0.005;
const frame_gap_max = 0.06;

redef record State += {
	## Datagrams of the window, both ways.
	n_sample: count &default=0;
	## Of those, type-0x0D frames longer than 4 bytes, and how often the id changed
	## between consecutive ones.
	n_voice: count &default=0;
	voice_changes: count &default=0;
	last_voice_id: string &default="";
	## Originator datagrams of 4+ bytes: how many, how many begin like the first one,
	## that first 4-byte header, and the first and last time.
	n_orig4: count &default=0;
	orig4_same: count &default=0;
	orig4_prefix: string &default="";
	orig4_first: time &optional;
	orig4_last: time &optional;
};

## Counts one datagram of the inspection window (*t* is ``p[2] & 0x8F``).
function media_sample(s: State, is_orig: bool, ts: time, data: string, t: count)
	{
	++s$n_sample;
	if ( |data| > 4 && t == 0x0D )
		{
		local id = data[0:2];
		if ( s$n_voice > 0 && id != s$last_voice_id )
			++s$voice_changes;
		s$last_voice_id = id;
		++s$n_voice;
		}
	if ( is_orig && |data| >= 4 )
		{
		if ( s$n_orig4 == 0 )
			{
			s$orig4_prefix = data[0:4];
			s$orig4_first = ts;
			}
		if ( data[0:4] == s$orig4_prefix )
			++s$orig4_same;
		s$orig4_last = ts;
		++s$n_orig4;
		}
	}

function media_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	local orig_pkts = c$orig?$num_pkts ? c$orig$num_pkts : 0;
	local resp_pkts = c$resp?$num_pkts ? c$resp$num_pkts : 0;
	if ( orig_pkts + resp_pkts > media_min_packets
	    && s$n_sample >= media_min_sample
	    && s$n_voice > 0
	    && s$n_voice >= media_min_share * s$n_sample
	    && s$voice_changes >= media_min_id_change_share * ( s$n_voice - 1 ) )
		hits += Hit($name="e2e_voice", $stage=MEDIA, $strength=POSSIBLE,
		    $evidence=fmt("%d of the first %d datagrams are type-0x0D voice frames with changing ids, in a flow of %d packets",
		    s$n_voice, s$n_sample, orig_pkts + resp_pkts));
	if ( orig_pkts > media_min_packets && s$n_orig4 >= media_min_sample )
		{
		local gap = interval_to_double(s$orig4_last - s$orig4_first) / ( s$n_orig4 - 1 );
		if ( s$orig4_same >= media_min_share * s$n_orig4
		    && s$orig4_prefix[1:4] != "\x00\x00\x00"
		    && gap >= frame_gap_min
		    && gap <= frame_gap_max )
			hits += Hit($name="skypeout_e2o", $stage=MEDIA, $strength=POSSIBLE,
			    $evidence=fmt("%d of the first %d datagrams share the 4-byte header %s every %.0f ms (SkypeOut framing)",
			    s$orig4_same, s$n_orig4, bytestring_to_hexstr(
			    s$orig4_prefix), gap * 1000.0));
		}
	return hits;
	}
