"""The enrich service: adds device, browser, OS, country, segment and time partitions to
validated records, without a network call per record.

The modules here import nothing heavy: the user-agent patterns, the IP→country data and
the DynamoDB client are all built on first use, so a cold start pays only for what the
first batch needs.
"""
