# skype.sig: the byte patterns that hand Skype's messages to the package's scripts.
# Each signature only triggers; the scripts keep what matched and decide at connection end.
# UDP patterns are matched per datagram, TCP patterns on the reassembled stream, both within
# Zeek's signature window (dpd_buffer_size bytes, dpd_max_packets packets).  Python's
# skypewatch engine uses these same expressions (tests/test_zeek_parity.py checks that).

# Every UDP datagram of the window goes to Skype::udp_datagram, which stops after the
# first one unless it is a Skype message.
signature skype-udp {
	ip-proto == udp
	payload /^[\x00-\xff]/
	eval Skype::udp_datagram
}

# The client's first TCP payload: record the host context (a probe just before, or a
# proven Skype port) for the follow-up signatures SKT-5/SKT-6.
signature skype-tcp-orig-data {
	ip-proto == tcp
	tcp-state originator
	payload /^[\x00-\xff]/
	eval Skype::tcp_orig_data
}

# The originator's bare SYN: a TCP attempt, for the fallback chain (SN port, 443, 80) of a
# client whose UDP probes went unanswered.  Header conditions only: the first packet.
signature skype-tcp-syn {
	ip-proto == tcp
	header tcp[13:1] & 0x12 == 0x02
	eval Skype::tcp_attempt
}

# A client stream that begins like a known cleartext protocol is not Skype's opaque TCP.
signature skype-tcp-cleartext {
	ip-proto == tcp
	tcp-state originator
	payload /^([\x14-\x17]\x03[\x00-\x04]|[\x80-\xff][\x00-\xff]\x01[\x00\x03][\x00-\x04]|GET\x20|POST\x20|HEAD\x20|PUT\x20|OPTIONS\x20|CONNECT\x20|DELETE\x20|TRACE\x20|PATCH\x20|SSH-|HTTP\x2f|[\x09\x0a\x0d\x20-\x7e]{16})/
	event Skype::tcp_cleartext
}

# L1: a TLS record header announcing a zero-length handshake.
signature skype-login-l1 {
	ip-proto == tcp
	tcp-state originator
	payload /^\x16\x03\x01\x00\x00/
	event Skype::login_l1
}

# L2: a zero-length application-data header from the server.
signature skype-login-l2 {
	ip-proto == tcp
	tcp-state responder
	payload /^\x17\x03\x01\x00\x00/
	event Skype::login_l2
}

# L3: after L1, a record whose body starts with a Skype object list (0x41/0x42).
signature skype-login-l3 {
	ip-proto == tcp
	tcp-state originator
	payload /^\x16\x03\x01\x00\x00\x16\x03\x01[\x00-\xff][\x00-\xff][\x41\x42]/
	event Skype::login_l3
}

# L4: after L2, a 17 03 01 record.
signature skype-login-l4 {
	ip-proto == tcp
	tcp-state responder
	payload /^\x17\x03\x01\x00\x00\x17\x03\x01/
	event Skype::login_l4
}

# Skype's 72-byte SSLv2-format ClientHello: fixed header and cipher list, 16 random bytes.
signature skype-sslv2-hello {
	ip-proto == tcp
	tcp-state originator
	payload /^\x80\x46\x01\x03\x01\x00\x2d\x00\x00\x00\x10\x00\x00\x05\x00\x00\x04\x00\x00\x0a\x00\x00\x09\x00\x00\x64\x00\x00\x62\x00\x00\x08\x00\x00\x03\x00\x00\x06\x01\x00\x80\x07\x00\xc0\x03\x00\x80\x06\x00\x40\x02\x00\x80\x04\x00\x80[\x00-\xff]{16}/
	event Skype::sslv2_hello
}

# ... followed by bytes that cannot begin a TLS record.
signature skype-sslv2-junk {
	ip-proto == tcp
	tcp-state originator
	payload /^\x80\x46\x01\x03\x01\x00\x2d\x00\x00\x00\x10\x00\x00\x05\x00\x00\x04\x00\x00\x0a\x00\x00\x09\x00\x00\x64\x00\x00\x62\x00\x00\x08\x00\x00\x03\x00\x00\x06\x01\x00\x80\x07\x00\xc0\x03\x00\x80\x06\x00\x40\x02\x00\x80\x04\x00\x80[\x00-\xff]{16}([\x00-\x13\x18-\xff]|[\x14-\x17]([\x00-\x02\x04-\xff]|\x03[\x05-\xff]))/
	event Skype::sslv2_junk
}

# The server's stream begins like a TLS record: only read after Skype's SSLv2-format hello
# (fake_tls_junk), so it fires only where the client sent one, whichever stream came first
# (every other TLS server would raise an event for nothing).
signature skype-resp-tls {
	ip-proto == tcp
	tcp-state responder
	requires-reverse-signature skype-sslv2-hello
	payload /^[\x14-\x17]\x03[\x00-\x04]/
	event Skype::resp_tls
}

# The constant 79-byte TLS 1.0 ServerHello (gmt_unix_time 0x401be486, fixed random and
# session id) that Skype super nodes send.
signature skype-fixed-server-hello {
	ip-proto == tcp
	tcp-state responder
	payload /^\x16\x03\x01\x00\x4a\x02\x00\x00\x46\x03\x01\x40\x1b\xe4\x86\x02\xad\xe0\x29\xe1\x77\x74\xe5\x44\xb9\xc9\x9c\xb4\x31\x31\x5e\x02\xdd\x77\x9d\x15\x4a\x96\x09\xba\x5d\xa8\x70\x20\x1c\xa0\xe4\xf6\x4c\x63\x51\xae\x2f\x8e\x4e\xe1\xe6\x76\x6a\x0a\x88\xd5\xd8\xc5\x5c\xae\x98\xc5\xe4\x81\xf2\x2a\x69\xbf\x90\x58\x00\x05\x00/
	event Skype::fixed_server_hello
}

# A Skype node answers GET with a bare "HTTP/1.0 404 Not Found" (no headers).
signature skype-http-get {
	ip-proto == tcp
	tcp-state originator
	payload /^GET\x20/
}

signature skype-bare-404 {
	ip-proto == tcp
	tcp-state responder
	requires-reverse-signature skype-http-get
	payload /^HTTP\x2f1\.0\x20404\x20Not\x20Found\x0d\x0a\x0d\x0a/
	event Skype::bare_404
}

# The version check: GET /ui/<platform>/<version>/<lang>/getlatestversion?ver=<version>
signature skype-version-uri {
	ip-proto == tcp
	tcp-state originator
	payload /^(GET|HEAD|POST)\x20(http:\x2f\x2fui\.skype\.com)?\x2fui\x2f[0-9]+\x2f[0-9][0-9.]*\x2f[A-Za-z][A-Za-z][^\x2f\x0d\x0a]*\x2f(getlatestversion\?ver=[0-9.]+|getnewestversion|installed)/
	event Skype::version_uri
}

signature skype-version-absolute {
	ip-proto == tcp
	tcp-state originator
	payload /^(GET|HEAD|POST)\x20http:\x2f\x2fui\.skype\.com\x2f/
	event Skype::version_absolute
}

signature skype-version-host {
	ip-proto == tcp
	tcp-state originator
	payload /^[^\x0d\x0a]*\x0d?\x0a([^\x0d\x0a]+\x0d?\x0a)*[Hh][Oo][Ss][Tt]:[\x20\x09]*ui\.skype\.com/
	event Skype::version_host
}

signature skype-user-agent {
	ip-proto == tcp
	tcp-state originator
	payload /^[^\x0d\x0a]*\x0d?\x0a([^\x0d\x0a]+\x0d?\x0a)*[Uu][Ss][Ee][Rr]-[Aa][Gg][Ee][Nn][Tt]:[\x20\x09]*Skype[^U]/
	event Skype::skype_agent
}
