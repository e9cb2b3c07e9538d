"""Stage 0 of the pipeline: packets out of pcap/pcapng files, decoded as far as the
signatures need."""
