@load-sigs ./skype.sig

@load ./main
@load ./context
@load ./udp_probe
@load ./sn_handshake
@load ./login
@load ./version_check
@load ./media
@load ./events
@load ./verdict
@load ./notices

@if ( Cluster::is_enabled() )
@load ./cluster
@endif
