"""Synthesizing legacy Skype traffic (and benign look-alikes) as pcap files with ground truth."""
