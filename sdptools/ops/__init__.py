"""Operating the failure path: dead letters (`sdp dlq list|redrive`) and archive
replays (`sdp replay`).

The functions take boto3 clients as arguments, so they run the same against the local
cloud and against AWS; ``sdptools.cli.dlq`` wires them into the `sdp` command.
"""
