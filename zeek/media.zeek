##! Calls after start-up: end-to-end voice and SkypeOut framing (SKU-7, SKU-8, after
##! Tstat), decided from the inspected datagrams and the flow's packet totals.

@load ./main
@load ./udp_probe

module Skype;

const media_min_packets = 100;
const media_min_sample = 8;
const media_min_share = 0.9;
const media_min_id_change_share = 0.5;
const frame_gap_min = 0.005;
const frame_gap_max = 0.06;

function media_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local d = c$skype_state$dgrams;
	local orig_pkts = c$orig?$num_pkts ? c$orig$num_pkts : 0;
	local resp_pkts = c$resp?$num_pkts ? c$resp$num_pkts : 0;

	if ( orig_pkts + resp_pkts > media_min_packets && |d| >= media_min_sample )
		{
		local voice: vector of string = vector();
		for ( _, dg in d )
			{
			if ( |dg$data| > 4 && ( byte_at(dg$data, 2) & 0x8F ) == 0x0D )
				voice += dg$data;
			}
		local changes = 0;
		local i = 1;
		while ( i < |voice| )
			{
			if ( voice[i - 1][0:2] != voice[i][0:2] )
				++changes;
			++i;
			}
		if ( |voice| > 0
		    && |voice| >= media_min_share * |d|
		    && changes >= media_min_id_change_share * ( |voice| - 1 ) )
			hits += Hit($name="e2e_voice", $stage="media", $strength=1, $evidence=fmt("%d of the first %d datagrams are type-0x0D voice frames with changing ids, in a flow of %d packets",
			    |voice|, |d|, orig_pkts + resp_pkts));
		}

	local orig: vector of Datagram = vector();
	for ( _, dg in d )
		{
		if ( dg$is_orig && |dg$data| >= 4 )
			orig += dg;
		}
	if ( orig_pkts > media_min_packets && |orig| >= media_min_sample )
		{
		local prefix = orig[0]$data[0:4];
		local same = 0;
		for ( _, o in orig )
			{
			if ( o$data[0:4] == prefix )
				++same;
			}
		local gap = interval_to_double(orig[|orig| - 1]$ts - orig[0]$ts) / ( |orig| - 1 );
		if ( same >= media_min_share * |orig|
		    && prefix[1:4] != "\x00\x00\x00"
		    && gap >= frame_gap_min
		    && gap <= frame_gap_max )
			hits += Hit($name="skypeout_e2o", $stage="media", $strength=1, $evidence=fmt("%d of the first %d datagrams share the 4-byte header %s every %.0f ms (SkypeOut framing)",
			    same, |orig|, bytestring_to_hexstr(prefix), gap *
			    1000.0));
		}
	return hits;
	}
