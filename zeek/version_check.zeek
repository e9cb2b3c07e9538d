##! The HTTP version check to ui.skype.com at every start (docs/signatures.md#http_version_check), which also tells the
##! Skype version.  Matched on the raw client stream by skype.sig, on any port, so it works
##! without the HTTP analyzer.

@load ./main

module Skype;

export {
	## skype-version-uri: the request line asks ui.skype.com's update path.
	global version_uri: event(state: signature_state, data: string) &is_used;

	## skype-version-absolute: the request names http://ui.skype.com/ itself (proxy form).
	global version_absolute: event(state: signature_state, data: string) &is_used;

	## skype-version-host: a ``Host: ui.skype.com`` header.
	global version_host: event(state: signature_state, data: string) &is_used;

	## skype-user-agent: a ``User-Agent`` starting with ``Skype`` (not SkypeUriPreview).
	global skype_agent: event(state: signature_state, data: string) &is_used;
}

redef record State += {
	## What the version-check patterns of skype.sig found in the request.
	version_uri: string &default="";
	version_host: bool &default=F;
	version_absolute: bool &default=F;
	skype_agent: bool &default=F;
};

## Platform digit of the update path.
const platforms: table[string] of string = {
	["0"] = "Windows",
	["2"] = "Linux",
	["3"] = "Mac",
};

function version_hits(c: connection): vector of Hit
	{
	local hits: vector of Hit = vector();
	local s = c$skype_state;
	if ( s$version_uri != "" && ( s$version_absolute || s$version_host ) )
		{
		local d = s$version_uri;
		local parts = split_string(find_first(d,
		    /\x2fui\x2f[0-9]+\x2f[0-9][0-9.]*\x2f/), /\x2f/);
		local plat = |parts| > 3 ? parts[2] : "";
		local version = |parts| > 3 ? parts[3] : "";
		local what = find_first(d, /\x2f(getlatestversion\?ver=[0-9.]+|getnewestversion|installed)/);
		local kind = split_string(what[1:], /\?/)[0];
		if ( kind == "getlatestversion" )
			version = split_string(what, /=/)[1];
		local platform = plat in platforms ? platforms[plat] : fmt("platform %s",
		    plat);
		hits += Hit($name="http_version_check", $stage=VERSION_CHECK,
		    $strength=LIKELY, $evidence=fmt(
		    "%s request to ui.skype.com: Skype %s for %s", kind,
		    version, platform), $skype_version=version);
		}
	if ( s$skype_agent )
		hits += Hit($name="skype_user_agent", $stage=VERSION_CHECK,
		    $strength=POSSIBLE,
		    $evidence="HTTP User-Agent starts with 'Skype'");
	return hits;
	}

event Skype::version_uri(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$version_uri = data;
	}

event Skype::version_absolute(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$version_absolute = T;
	}

event Skype::version_host(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$version_host = T;
	}

event Skype::skype_agent(state: signature_state, data: string)
	{
	local s = state_for(state$conn);
	s$skype_agent = T;
	}
