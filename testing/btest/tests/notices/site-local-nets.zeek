# @TEST-DOC: Site::local_nets governs inside and outside, and skypewatch's --local-nets mirrors it.  With only 172.16.0.0/12 inside (and the private space not added), the synthesized relay 10.x is an outside host: no Local_Super_Node, its clients noticed on their own, and both engines write the same notice.log.  Control: the default run notices the relay.
# @TEST-REQUIRES: test -x "$PYTHON"
# @TEST-EXEC: zeek -C -r $TRACES/skype-local-supernode.pcap $PACKAGE %INPUT
# @TEST-EXEC: $PYTHON -m skypewatch analyze $TRACES/skype-local-supernode.pcap -o py -q --local-nets 172.16.0.0/12
# @TEST-EXEC: $SCRIPTS/canonify-skype-log notice.log >zeek.canon && $SCRIPTS/canonify-skype-log py/notice.log >py.canon
# @TEST-EXEC: diff zeek.canon py.canon
# @TEST-EXEC: ! grep -q Local_Super_Node notice.log
# @TEST-EXEC: mkdir default && cd default && zeek -C -r $TRACES/skype-local-supernode.pcap $PACKAGE && grep -q Local_Super_Node notice.log
# @TEST-EXEC: zeek-cut note src <notice.log >output
# @TEST-EXEC: btest-diff output

redef Site::private_address_space_is_local = F;
redef Site::local_nets = { 172.16.0.0/12 };
