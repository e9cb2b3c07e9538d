"""The detector that drives the pipeline per packet: packets into connections (the tracker),
each connection through the signatures and the host context as its payload arrives, and a
finished connection to its verdict.  It sits above every stage it drives, so the stages
import nothing of it and nothing of each other but downward."""
