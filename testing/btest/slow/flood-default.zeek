# @TEST-DOC: The flood at the default bounds: 10^5 hosts each making a possible line (HTTP with User-Agent Skype) just after a real start-up; Skype::max_hosts (100,000) overflows, a flood host is evicted and the client's Login_Sequence notice comes out (about 25 s and 1.4 GB: `make btest-slow`, not part of `make test`).
# @TEST-REQUIRES: test -x "$PYTHON"
# @TEST-EXEC: $PYTHON -c "from skypewatch.synth.flood import write_flooded_startup as w; w('after.pcap', 100000, 'after', kinds=('agent',))"
# @TEST-EXEC: zeek -C -r after.pcap $PACKAGE %INPUT >output
# @TEST-EXEC: zeek-cut note src <notice.log >>output
# @TEST-EXEC: btest-diff output

event zeek_done()
	{
	print fmt("hosts evicted: %s, lost: %d", Skype::evicted_hosts > 0, Skype::lost_hosts);
	}
