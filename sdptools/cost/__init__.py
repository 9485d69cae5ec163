"""What a run costs on AWS: billable units measured on the local cloud, priced from data.

``units`` holds the billing arithmetic (64 KB chunks, DynamoDB item sizes and request
units), ``meter`` counts units on every AWS request the local cloud serves,
``lambda_meter`` counts invocations and GB-seconds, ``collect`` takes snapshots of all
of them, ``report`` prices them and projects them to a sustained rate against the
default quotas, and ``cli`` is ``sdp cost``.
"""
