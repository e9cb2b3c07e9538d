# @TEST-DOC: A flood of 10^4 cheap hosts of each kind (one-packet HTTP with User-Agent Skype, lone U1 probes, plain UDP) before, during and after a real start-up, against client and host-context tables of 500 and 1,000 entries: the tables fill and evict flood hosts, the client's Login_Sequence notice comes out every time, and no evidence is lost (no Skype_state_full weird).  The Python engine's test_bounded_state.py floods the same captures.
# @TEST-REQUIRES: test -x "$PYTHON"
# @TEST-EXEC: $PYTHON -c "from skypewatch.synth.flood import write_flooded_startup as w; [w(f'{x}.pcap', 10000, x) for x in ('before', 'during', 'after')]"
# @TEST-EXEC: for x in before during after; do echo "$x:" >>output; zeek -C -r $x.pcap $PACKAGE %INPUT >>output || exit 1; zeek-cut note src <notice.log >>output; mv notice.log $x.notice.log; touch weird.log; mv weird.log $x.weird.log; done
# @TEST-EXEC: ! grep -q Skype_state_full before.weird.log during.weird.log after.weird.log
# @TEST-EXEC: btest-diff output

redef Skype::max_hosts = 500;
redef Skype::max_entries = 1000;

event zeek_done()
	{
	print fmt("  hosts evicted: %s, context entries evicted: %s, lost: %d %d",
	    Skype::evicted_hosts > 0, Skype::evicted_entries > 0, Skype::lost_hosts,
	    Skype::lost_entries);
	}
