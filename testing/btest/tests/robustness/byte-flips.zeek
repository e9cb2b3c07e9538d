# @TEST-DOC: Damaged traffic never makes the package write a reporter error or warning. Every committed synthesized trace is replayed with a seeded random selection of its UDP and TCP payload bytes flipped (headers and lengths intact, checksums ignored with -C), four seeds at damage rates from 0.3 % to 40 % of payload bytes. Each run: Zeek exits 0, nothing on stderr, reporter.log only Reporter::INFO; across the runs the package still logs Skype connections. See Scripts/replay-flipped.
# @TEST-EXEC: $SCRIPTS/replay-flipped %INPUT >output
# @TEST-EXEC: test -s output

# Loaded beside the package in every replay: how many skype.log lines it still writes, so the
# runner can tell the damaged traces were analysed rather than ignored.
global skype_lines = 0;

event Skype::log_skype(rec: Skype::Info)
	{
	++skype_lines;
	}

event zeek_done()
	{
	print fmt("skype.log lines: %d", skype_lines);
	}
