# @TEST-DOC: The package loads the way zkg users load it (`@load skypewatch`) and creates its stream.
# @TEST-EXEC: ln -s $PACKAGE skypewatch
# @TEST-EXEC: zeek -b %INPUT >output
# @TEST-EXEC: btest-diff output

@load skypewatch

event zeek_init() &priority=-10
	{
	print Log::active_streams[Skype::LOG]$path;
	print Skype::max_datagrams, Skype::probe_tcp_window, Skype::fanout_min_peers;
	}
