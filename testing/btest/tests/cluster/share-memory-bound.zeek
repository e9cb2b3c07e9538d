# @TEST-DOC: The record of facts a cluster node passed on (share.zeek's passed_on) holds at most Skype::max_entries; a fact it could not remember is passed on again, a remembered repeat is not, and a remembered fact is refreshed even when the table is full.
# @TEST-EXEC: zeek -b $PACKAGE/share.zeek %INPUT >out
# @TEST-EXEC: btest-diff out

# worth_sharing and passed_on are the module's own
module Skype;

redef max_entries = 3;

event zeek_init()
	{
	local t0 = double_to_time(1000.0);
	local hosts: vector of addr = vector(10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, 10.0.0.5);
	for ( _, h in hosts )
		print fmt("first %s: %s", h, worth_sharing(CTX_CONFIRMED_HOST, t0, h, 0/unknown, T));
	print fmt("remembered: %d", |passed_on|);
	# 1 s later: the remembered ones are repeats, the others travel again
	for ( _, h in hosts )
		print fmt("again %s: %s", h, worth_sharing(CTX_CONFIRMED_HOST, t0 + 1sec, h, 0/unknown, T));
	print fmt("remembered: %d", |passed_on|);
	# past share_refresh a remembered fact travels and its time moves on, table full or not
	print fmt("later 10.0.0.1: %s", worth_sharing(CTX_CONFIRMED_HOST, t0 + 61sec, 10.0.0.1, 0/unknown, T));
	print fmt("then 10.0.0.1: %s", worth_sharing(CTX_CONFIRMED_HOST, t0 + 62sec, 10.0.0.1, 0/unknown, T));
	print fmt("remembered: %d", |passed_on|);
	}
