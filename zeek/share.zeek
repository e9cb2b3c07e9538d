##! Which host-context updates a cluster node passes on (cluster.zeek): only those that
##! can tell the other nodes something.  A Skype client proves its own UDP endpoint, and is
##! confirmed, again with every strong connection, and a super node is proven again by
##! every client that reaches it; the repeats change nothing at the other nodes but the
##! time their entries expire (:zeek:see:`Skype::endpoint_idle` after the last update).
##! So a node passes on a repeat of a proven endpoint, a confirmed host or a proven node
##! only once :zeek:see:`Skype::share_refresh` has gone by since it passed on that fact,
##! and never a confirmation later than the one passed on (every node keeps the earliest).
##! Probes, new flows and TCP attempts all go: each one counts or times something.

@load ./context

module Skype;

export {
	## How long a node passes on no repeat of a proven endpoint, confirmed host or proven
	## node it passed on: the other nodes' entries may expire this much before its own.
	option share_refresh: interval = 60sec;

	## Host-context updates this node did not pass on, being repeats.
	global unshared_repeats: count = 0;
}

## When this node last passed on each repeatable fact (kind, host, port, flag); at most
## :zeek:see:`Skype::max_entries` of them.
global passed_on: table[ContextKind, addr, port, bool] of time
    &write_expire=share_refresh;

## Whether the update should travel (and, if so, remember that it did).
function worth_sharing(kind: ContextKind, ts: time, a: addr, p: port,
    flag: bool): bool
	{
	if ( kind != CTX_PROVEN_ENDPOINT
	    && kind != CTX_CONFIRMED_HOST
	    && kind != CTX_NODE )
		return T;
	if ( [kind, a, p, flag] in passed_on )
		{
		local last = passed_on[kind, a, p, flag];
		if ( ts >= last && ts - last < share_refresh )
			{
			++unshared_repeats;
			return F;
			}
		}
	# A node proven a login server after a super node (or back) is news again.
	if ( [kind, a, p, ! flag] in passed_on )
		delete passed_on[kind, a, p, ! flag];
	# Bounded like the host tables: when full, a fact not remembered is only passed on
	# again (one message more); no evidence is lost either way.
	if ( [kind, a, p, flag] in passed_on || |passed_on| < max_entries )
		passed_on[kind, a, p, flag] = ts;
	return T;
	}
