# @TEST-DOC: When even value-based eviction cannot keep the evidence (host-context tables of two entries against a real start-up), the loss is counted and reported: Skype_state_full weirds name the table and the host, and Skype::lost_entries counts them.
# @TEST-REQUIRES: test -x "$PYTHON"
# @TEST-EXEC: $PYTHON -c "from skypewatch.synth.flood import write_flooded_startup as w; w('after.pcap', 1000, 'after')"
# @TEST-EXEC: zeek -C -r after.pcap $PACKAGE %INPUT >output
# @TEST-EXEC: zeek-cut name addl <weird.log | grep Skype_state_full | sort -u >lost
# @TEST-EXEC: test -s lost
# @TEST-EXEC: btest-diff output

redef Skype::max_entries = 2;

event zeek_done()
	{
	print fmt("lost entries counted: %s", Skype::lost_entries > 0);
	}
